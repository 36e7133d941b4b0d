// Damaged JPEGs and PNGs through the image shim under AddressSanitizer/LeakSanitizer: every
// error path (libjpeg and libpng leave by longjmp) must free what it allocated. The Swift tests
// cannot see this precisely (other tests share the process); LeakSanitizer can.
#include "smol_image.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 7;
static uint32_t next(void) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(state >> 33);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    if (!b || fread(b, 1, *n, f) != *n) { fprintf(stderr, "cannot read %s\n", path); exit(2); }
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    int refused = 0, decoded = 0;
    for (int a = 1; a < argc; a++) {
        size_t n;
        uint8_t *file = slurp(argv[a], &n);
        const int png = n > 8 && file[0] == 0x89;
        uint8_t *copy = malloc(n);
        for (int i = 0; i < 100; i++) {
            memcpy(copy, file, n);
            size_t len = n;
            if (i % 2 == 0) {
                len = n / 2 + next() % (n / 3);  // truncated deep in the image data
            } else {
                const size_t at = 200 + next() % (n - 400);  // a run of garbage
                for (size_t k = at; k < at + 64 && k < n; k++) copy[k] = (uint8_t)next();
            }
            uint8_t *rgb = NULL;
            int w = 0, h = 0;
            char err[256];
            const int rc = png ? smol_decode_png(copy, len, 1u << 26, &rgb, &w, &h, err, sizeof err)
                               : smol_decode_jpeg(copy, len, 1u << 26, &rgb, &w, &h, err, sizeof err);
            if (rc == SMOL_IMAGE_OK) decoded++; else refused++;
            if (rc != SMOL_IMAGE_OK && rgb != NULL) { fprintf(stderr, "error %d left a buffer\n", rc); return 1; }
            smol_image_free(rgb);
        }
        free(copy);
        free(file);
    }
    printf("image shim under ASan/LSan: %d damaged files refused, %d decoded, no leak reported\n", refused, decoded);
    return 0;
}
