// Build-time check: the public header alone compiles as C++11 (-std=c++11 -pedantic -Wall
// -Wextra -Werror, see tests/CMakeLists.txt) and its functions have C linkage.
#include <spatialpixelcnn.h>
#include <spatialpixelcnn.h>

extern "C" {
typedef const char *spcnn_header_cxx_fn(spcnn_status);
}
extern spcnn_header_cxx_fn *const spcnn_header_cxx_status_string;
spcnn_header_cxx_fn *const spcnn_header_cxx_status_string = spcnn_status_string;
static_assert(SPCNN_OK == 0, "SPCNN_OK is 0");
