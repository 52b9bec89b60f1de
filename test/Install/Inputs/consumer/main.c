/* A consumer of an installed libsattn_runtime: loads a kernel's manifest
 * (argv[1], with its PTX beside it) and builds a tile plan on the host, which
 * needs no GPU; prints the runtime's version and the plan's tile counts. */
#include <sattn/runtime.h>

#include <stdio.h>

int main(int argc, char **argv) {
  printf("runtime %s\n", sattn_version());
  if (argc < 2)
    return 0;
  sattn_kernel *kernel = NULL;
  sattn_host_plan *plan = NULL;
  if (sattn_kernel_load_file(argv[1], &kernel) != SATTN_OK ||
      sattn_plan_build(kernel, 1, 4096, 4096, NULL, 0, &plan) != SATTN_OK) {
    fprintf(stderr, "error: %s\n", sattn_last_error());
    return 1;
  }
  int64_t visited = 0, dense = 0;
  sattn_host_plan_stats(plan, &visited, &dense);
  printf("kernel %s: %lld of %lld tiles at L = 4096\n", sattn_kernel_name(kernel),
         (long long)visited, (long long)dense);
  sattn_host_plan_destroy(plan);
  sattn_kernel_destroy(kernel);
  return 0;
}
