/* png_colours FILE.png: prints "WIDTH HEIGHT COLOURS OTHER" for an 8-bit,
 * non-interlaced PNG (what headless Chromium writes): the number of distinct
 * RGB colours, and of pixels that differ from the top-left one. The report
 * test uses it to tell a rendered page from a blank screenshot; zlib does
 * the inflating, this file the PNG chunks and row filters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static unsigned long be32(const unsigned char *p) {
  return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) | ((unsigned long)p[2] << 8) | p[3];
}

static int fail(const char *why) {
  fprintf(stderr, "png_colours: %s\n", why);
  return 1;
}

static int paeth(int a, int b, int c) {
  int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

int main(int argc, char **argv) {
  if (argc != 2) return fail("usage: png_colours FILE.png");
  FILE *f = fopen(argv[1], "rb");
  if (!f) return fail("cannot open the file");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *file = malloc(size > 0 ? (size_t)size : 1);
  if (!file || fread(file, 1, (size_t)size, f) != (size_t)size) return fail("cannot read the file");
  fclose(f);
  if (size < 8 || memcmp(file, "\211PNG\r\n\032\n", 8) != 0) return fail("not a PNG");

  unsigned long width = 0, height = 0;
  int channels = 0;
  unsigned char *idat = malloc((size_t)size);
  size_t idat_len = 0;
  for (long at = 8; at + 12 <= size;) {
    unsigned long len = be32(file + at);
    const unsigned char *type = file + at + 4, *data = file + at + 8;
    if ((unsigned long)(size - at - 12) < len) return fail("truncated chunk");
    if (memcmp(type, "IHDR", 4) == 0) {
      width = be32(data);
      height = be32(data + 4);
      int depth = data[8], colour = data[9], interlace = data[12];
      channels = colour == 0 ? 1 : colour == 2 ? 3 : colour == 4 ? 2 : colour == 6 ? 4 : 0;
      if (depth != 8 || channels == 0 || interlace != 0) return fail("only 8-bit non-interlaced grey/RGB(A) PNGs");
    } else if (memcmp(type, "IDAT", 4) == 0) {
      memcpy(idat + idat_len, data, len);
      idat_len += len;
    } else if (memcmp(type, "IEND", 4) == 0) {
      break;
    }
    at += 12 + (long)len;
  }
  if (!width || !height) return fail("no IHDR");

  size_t stride = width * (size_t)channels, raw_len = height * (stride + 1);
  unsigned char *raw = malloc(raw_len);
  uLongf got = raw_len;
  if (!raw || uncompress(raw, &got, idat, idat_len) != Z_OK || got != raw_len) return fail("bad image data");

  /* undo each row's filter in place; row r's bytes start at raw + r * (stride + 1) + 1 */
  for (size_t r = 0; r < height; r++) {
    unsigned char *row = raw + r * (stride + 1) + 1, *up = r ? row - (stride + 1) : NULL;
    int filter = row[-1];
    if (filter > 4) return fail("bad row filter");
    for (size_t i = 0; i < stride; i++) {
      int a = i >= (size_t)channels ? row[i - channels] : 0, b = up ? up[i] : 0;
      int c = up && i >= (size_t)channels ? up[i - channels] : 0;
      int add = filter == 0 ? 0 : filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2 : paeth(a, b, c);
      row[i] = (unsigned char)(row[i] + add);
    }
  }

  /* distinct colours on a 2^24-bit set (grey images use the grey level for all three) */
  unsigned char *seen = calloc(1u << 21, 1);
  unsigned long colours = 0, other = 0, first = 0;
  for (size_t r = 0; r < height; r++) {
    const unsigned char *row = raw + r * (stride + 1) + 1;
    for (size_t x = 0; x < width; x++) {
      const unsigned char *p = row + x * channels;
      unsigned long rgb = channels < 3 ? (p[0] * 0x010101ul) : ((unsigned long)p[0] << 16 | p[1] << 8 | p[2]);
      if (r == 0 && x == 0) first = rgb;
      if (rgb != first) other++;
      if (!(seen[rgb >> 3] & (1u << (rgb & 7)))) {
        seen[rgb >> 3] |= (unsigned char)(1u << (rgb & 7));
        colours++;
      }
    }
  }
  printf("%lu %lu %lu %lu\n", width, height, colours, other);
  free(seen);
  free(raw);
  free(idat);
  free(file);
  return 0;
}
