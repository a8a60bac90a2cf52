/* Build-time check: the public header alone compiles as strict C99 (-std=c99 -pedantic -Wall
 * -Wextra -Werror, see tests/CMakeLists.txt); included twice to exercise the include guard. */
#include <spatialpixelcnn.h>
#include <spatialpixelcnn.h>

extern const char spcnn_header_c99_version[];
const char spcnn_header_c99_version[] = SPCNN_VERSION_STRING;
extern const char *(*const spcnn_header_c99_fn)(spcnn_status);
const char *(*const spcnn_header_c99_fn)(spcnn_status) = spcnn_status_string;
