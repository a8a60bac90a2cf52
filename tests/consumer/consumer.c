/* A program that uses the installed library as a third party would: only the installed header
 * and the shared library, found through the CMake package or pkg-config (tests/install_test.sh). */
#include <spatialpixelcnn.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    spcnn_config *cfg = NULL;
    double filters = 0.0;
    if (spcnn_version_number() != SPCNN_VERSION_NUMBER ||
        strcmp(spcnn_version_string(), SPCNN_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: header %s but library %s\n", SPCNN_VERSION_STRING,
                spcnn_version_string());
        return 1;
    }
    if (spcnn_config_create(&cfg) != SPCNN_OK ||
        spcnn_config_get(cfg, SPCNN_CFG_NR_FILTERS, &filters) != SPCNN_OK) {
        fprintf(stderr, "consumer: config: %s\n", spcnn_last_error_message());
        spcnn_config_destroy(cfg);
        return 1;
    }
    spcnn_config_destroy(cfg);
    printf("spatialpixelcnn %s nr_filters=%g\n", spcnn_version_string(), filters);
    return 0;
}
