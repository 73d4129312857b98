/*
 * libFuzzer harness for kiln's readers (make fuzz). One binary per target,
 * built with -DKILN_FUZZ_TARGET="name": it runs tests/fuzz/targets/name.lua
 * in a Lua state with the native module (gen/native, built into the binary
 * with the sanitizers) preloaded as kiln_native. The target script returns
 * function(data) that feeds the input to the real reader, as a file
 * (fuzz.file) or a string.
 *
 * A refusal (util.fail's one-line error) is the reader doing its job. A
 * sanitizer report, a crash, or any other Lua error (an internal error,
 * which the CLI would print with a traceback and exit 70) aborts: libFuzzer
 * saves the input. KILN_FUZZ_LUA_ERRORS=ignore lets internal errors pass.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef KILN_FUZZ_TARGET
#error "build with -DKILN_FUZZ_TARGET=\"name\""
#endif
#ifndef KILN_FUZZ_ROOT
#define KILN_FUZZ_ROOT "."
#endif

int luaopen_kiln_native(lua_State *L);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;
static int run_ref; /* the driver's run(data) */
static int strict = 1;

/* The scratch folder (in /dev/shm when there is one) the targets write their files into. */
static char scratch[64];

static void remove_scratch(void) {
  char cmd[96];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  if (system(cmd) != 0) fprintf(stderr, "kiln fuzz: could not remove %s\n", scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  const char *ignore = getenv("KILN_FUZZ_LUA_ERRORS");
  strict = !(ignore && strcmp(ignore, "ignore") == 0);
  snprintf(scratch, sizeof scratch, "%s/kiln-fuzz.%ld", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
           (long)getpid());
  L = luaL_newstate();
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_kiln_native);
  lua_setfield(L, -2, "kiln_native");
  lua_pop(L, 1);
  if (luaL_loadfile(L, KILN_FUZZ_ROOT "/tests/fuzz/driver.lua")) {
    fprintf(stderr, "kiln fuzz: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  /* driver(root, target, scratch) -> run */
  lua_pushstring(L, KILN_FUZZ_ROOT);
  lua_pushstring(L, KILN_FUZZ_TARGET);
  lua_pushstring(L, scratch);
  if (lua_pcall(L, 3, 1, 0)) {
    fprintf(stderr, "kiln fuzz: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  atexit(remove_scratch);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned runs;
  lua_rawgeti(L, LUA_REGISTRYINDEX, run_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 2, 0)) {
    fprintf(stderr, "kiln fuzz: the driver failed: %s\n", lua_tostring(L, -1));
    abort();
  }
  /* run(data) -> true, or false and an internal error's traceback */
  if (!lua_toboolean(L, -2)) {
    fprintf(stderr, "kiln fuzz: internal error (not a refusal) on this input:\n%s\n", lua_tostring(L, -1));
    if (strict) abort();
  }
  lua_pop(L, 2);
  /* mapped tensors hold file mappings until collected */
  if (++runs % 16 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
