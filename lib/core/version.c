#include "spatialpixelcnn.h"

unsigned spcnn_version_number(void)
{
    return SPCNN_VERSION_NUMBER;
}

const char *spcnn_version_string(void)
{
    return SPCNN_VERSION_STRING;
}
