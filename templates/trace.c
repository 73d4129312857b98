/* Trace build: each step's result goes to the file named by $KILN_TRACE as
 * records of (observer, NUL, int32 count, int16 codes). */
void kiln_trace(const char *observer, const int16_t *data, int32_t n) {
  static FILE *out;
  const char *path = getenv("KILN_TRACE");
  if (!path) return;
  if (!out) out = fopen(path, "wb");
  if (!out) return;
  fwrite(observer, 1, strlen(observer) + 1, out);
  fwrite(&n, sizeof n, 1, out);
  fwrite(data, sizeof *data, (size_t)n, out);
  fflush(out);
}
