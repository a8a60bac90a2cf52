# Read by cpack for each generator it runs (CPACK_PROJECT_CONFIG_FILE, cmake/Packaging.cmake).
if(CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_SPCNN_INSTALL_PREFIX STREQUAL "/usr")
  message(WARNING "This build was configured with CMAKE_INSTALL_PREFIX="
    "${CPACK_SPCNN_INSTALL_PREFIX}: the .deb puts the library in "
    "/usr/${CPACK_SPCNN_INSTALL_LIBDIR}. Configure with -DCMAKE_INSTALL_PREFIX=/usr for "
    "Debian's layout.")
endif()
