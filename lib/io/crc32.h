/* CRC-32 of IEEE 802.3 / zlib / PNG (reflected polynomial 0xEDB88320, initial value and final
 * xor 0xFFFFFFFF): the checksum of model files. crc32("123456789") = 0xCBF43926. */
#ifndef SPCNN_IO_CRC32_H
#define SPCNN_IO_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* The lookup table, entry n = the CRC register after shifting byte n through (exposed so a
 * test can recompute it). */
extern const uint32_t spcnn__crc32_table[256];

/* Continue a CRC over n more bytes: start with crc = 0; chunks may be fed in any sizes,
 * spcnn__crc32_update(spcnn__crc32_update(0, a, na), b, nb) == CRC of a followed by b. */
uint32_t spcnn__crc32_update(uint32_t crc, const void *data, size_t n);

#endif
