/* Loads the kernel embedded in streaming.h (written by sattn-compile
 * --emit=header), prints what the runtime read from the embedded manifest,
 * and writes the embedded image and manifest to argv[1] and argv[2] so that
 * the test can compare them with the files sattn-compile wrote. Built as
 * C99 and as C++. */
#include "streaming.h"

#include <stdio.h>

static int dump(const char *path, const unsigned char *bytes, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return 1;
  if (fwrite(bytes, 1, size, f) != size) {
    fclose(f);
    return 1;
  }
  return fclose(f) != 0;
}

int main(int argc, char **argv) {
  sattn_kernel *kernel = NULL;
  sattn_status status;
  if (argc != 3) {
    fprintf(stderr, "usage: %s IMAGE_OUT MANIFEST_OUT\n", argv[0]);
    return 2;
  }
  status = sattn_streaming_load(&kernel);
  if (status != SATTN_OK) {
    fprintf(stderr, "load: %s: %s\n", sattn_status_string(status),
            sattn_last_error());
    return 1;
  }
  printf("name %s\n", sattn_kernel_name(kernel));
  printf("heads %lld kv_heads %lld head_dim %lld\n",
         (long long)sattn_kernel_heads(kernel),
         (long long)sattn_kernel_kv_heads(kernel),
         (long long)sattn_kernel_head_dim(kernel));
  printf("block %lldx%lld\n", (long long)sattn_kernel_block_m(kernel),
         (long long)sattn_kernel_block_n(kernel));
  printf("manifest %lu bytes, image %lu bytes\n",
         (unsigned long)sattn_streaming_manifest_size,
         (unsigned long)sattn_streaming_image_size);
  sattn_kernel_destroy(kernel);
  if (dump(argv[1], sattn_streaming_image, sattn_streaming_image_size) ||
      dump(argv[2], sattn_streaming_manifest, sattn_streaming_manifest_size))
    return 1;
  return 0;
}
