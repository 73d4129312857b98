/*
 * Unicode for the tokenizers: UTF-8, general categories, White_Space, and
 * the normalization forms, from the Unicode Character Database the build
 * turns into tables (gen/native/unicode_tables.lua, Debian's unicode-data).
 */
#ifndef KILN_UNICODE_H
#define KILN_UNICODE_H

#include <lauxlib.h>
#include <stddef.h>
#include <stdint.h>

/* General categories, in the tables' order. */
enum uni_category {
  UNI_Cn, UNI_Lu, UNI_Ll, UNI_Lt, UNI_Lm, UNI_Lo, UNI_Mn, UNI_Mc, UNI_Me, UNI_Nd, UNI_Nl, UNI_No, UNI_Pc,
  UNI_Pd, UNI_Ps, UNI_Pe, UNI_Pi, UNI_Pf, UNI_Po, UNI_Sm, UNI_Sc, UNI_Sk, UNI_So, UNI_Zs, UNI_Zl, UNI_Zp,
  UNI_Cc, UNI_Cf, UNI_Cs, UNI_Co, UNI_CATEGORY_COUNT
};

int uni_category(uint32_t cp);
int uni_white_space(uint32_t cp);
/* The category named (one letter: the union, "L" = Lu|Ll|Lt|Lm|Lo) as a bit
 * mask over enum uni_category, or 0 for an unknown name. */
uint32_t uni_category_mask(const char *name);

/* The code point at s[*i] (of n bytes), advancing *i; -1 and no advance
 * for an invalid or truncated sequence. */
int32_t uni_decode(const unsigned char *s, size_t n, size_t *i);
/* Appends the UTF-8 of cp. */
void uni_encode(luaL_Buffer *b, uint32_t cp);
/* Byte offset of the first invalid UTF-8 in s, or n when it is all valid. */
size_t uni_invalid_at(const unsigned char *s, size_t n);

/* Adds native.unicode_normalize(text, "NFC" | "NFD" | "NFKC" | "NFKD") -> text,
 * native.unicode_category(cp) -> its two-letter category and
 * native.utf8_invalid_at(text) -> byte offset of the first invalid UTF-8, or
 * nil, to the module table on top of the stack. */
void unicode_register(lua_State *L);

#endif
