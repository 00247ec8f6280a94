/* fuzz.h: the libFuzzer entry point every target defines; replay.c calls it when the
 * targets are built without libFuzzer. */
#ifndef ESUP_FUZZ_H
#define ESUP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
