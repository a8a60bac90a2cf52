# Packages of what `cmake --install` installs, made by CPack in the build directory:
#
#   cpack -G DEB    spatialpixelcnn_<version>_<arch>.deb, a Debian package
#   cpack -G TGZ    spatialpixelcnn-<version>-Linux.tar.gz, a relocatable tree
#
# One package holds everything: the runtime library with its SONAME link, the -dev parts
# (header, .pc file, CMake package), the spcnn program and its man page, and the bundled model
# and classifiers in share/spatialpixelcnn. The .deb installs into /usr; configure with
# -DCMAKE_INSTALL_PREFIX=/usr to get Debian's multiarch library directory
# (/usr/lib/x86_64-linux-gnu; from any other prefix the library goes to /usr/lib).
# scripts/deb-test.sh builds the .deb and installs it in a clean Debian 12 (docs/testing.md).

# The data the library and spcnn work with, and the documents a package carries.
install(FILES models/mnist.spcnn models/lenet-mnist.spcls models/lenet-fashion-mnist.spcls
        DESTINATION ${CMAKE_INSTALL_DATADIR}/spatialpixelcnn)
install(FILES LICENSE CHANGELOG.md README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(SPCNN_PACKAGE_CONTACT "the libspatialpixelcnn authors" CACHE STRING
    "Maintainer field of the Debian package (Name <address>)")

set(CPACK_PACKAGE_NAME spatialpixelcnn)
set(CPACK_PACKAGE_VENDOR "the libspatialpixelcnn authors")
set(CPACK_PACKAGE_CONTACT "${SPCNN_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
# The Debian description's lines are kept as they are: break them here.
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "libspatialpixelcnn is a C library implementing Spatial PixelCNN: a PixelCNN++\n"
  "trained on small patches of images that generates whole images at the training\n"
  "resolution or any larger one, on oneDNN.\n"
  "\n"
  "This package holds the shared library, its header, pkg-config file and CMake\n"
  "package, the spcnn command-line tool, and a model and two classifiers trained\n"
  "on MNIST.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_RESOURCE_FILE_README ${PROJECT_SOURCE_DIR}/README.md)
set(CPACK_GENERATOR TGZ DEB)
set(CPACK_STRIP_FILES ON)

# Debian: version from the project, architecture from `dpkg --print-architecture` (CPack's
# default), Depends from dpkg-shlibdeps (dpkg-dev, which build-essential brings), a shlibs file
# and the ldconfig calls for the library.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")   # the ABI holds for later versions

# Read back by cmake/CPackProjectConfig.cmake when cpack runs.
set(CPACK_SPCNN_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_SPCNN_INSTALL_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_LIST_DIR}/CPackProjectConfig.cmake)

include(CPack)
