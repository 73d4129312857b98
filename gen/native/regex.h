/*
 * Regular expressions as tokenizer.json's pre-tokenizers use them (regex.c):
 * native.regex(pattern) -> Regex, re:find_all(text) -> match offsets.
 */
#ifndef KILN_REGEX_H
#define KILN_REGEX_H

#include <lua.h>

/* Registers the Regex metatable and adds native.regex to the module table on top of the stack. */
void regex_register(lua_State *L);

#endif
