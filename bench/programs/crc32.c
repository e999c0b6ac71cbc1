/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) of a generated buffer, computed bytewise with a 256-entry
 * table and bitwise without one, over many rounds. Table loads, shifts and xors. Prints the CRCs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    size_t size = argc > 1 ? (size_t)atol(argv[1]) : 4 << 20;
    int rounds = argc > 2 ? atoi(argv[2]) : 40;
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    unsigned char *buf = malloc(size);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < size; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; buf[i] = (unsigned char)x; }
    uint32_t acc = 0;
    for (int r = 0; r < rounds; r++) {
        uint32_t c = 0xFFFFFFFFu ^ acc;
        for (size_t i = 0; i < size; i++) c = table[(c ^ buf[i]) & 0xFF] ^ (c >> 8);
        acc = c ^ 0xFFFFFFFFu;
        buf[r % size] ^= (unsigned char)acc;
    }
    uint32_t bitwise = 0xFFFFFFFFu;
    for (size_t i = 0; i < size / 8; i++) {
        bitwise ^= buf[i];
        for (int k = 0; k < 8; k++) bitwise = (bitwise >> 1) ^ (0xEDB88320u & -(bitwise & 1));
    }
    printf("crc32 of \"123456789\": ");
    uint32_t c = 0xFFFFFFFFu;
    for (const char *p = "123456789"; *p; p++) c = table[(c ^ (unsigned char)*p) & 0xFF] ^ (c >> 8);
    printf("%08x\nchecksum: %08x %08x\n", c ^ 0xFFFFFFFFu, acc, bitwise ^ 0xFFFFFFFFu);
    free(buf);
    return 0;
}
