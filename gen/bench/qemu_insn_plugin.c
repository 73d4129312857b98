/*
 * A QEMU TCG plugin for kiln bench --plugin: how many times each translated
 * block ran, so that instructions per token and per function are counted
 * exactly rather than sampled. It writes one line per block that ran,
 * "address instructions executions" in hex and decimal, to the file named by
 * KILN_INSN_OUT, and prints "kiln_insn_total N" through QEMU's plugin log.
 *
 * Debian 12 packages QEMU 7.2 with plugin support but not its qemu-plugin.h,
 * so the few declarations of API version 1 this needs are written out here
 * (the ABI is C: a plugin is a shared object whose qemu_plugin_install QEMU
 * calls, and whose calls into QEMU are resolved from the emulator at load).
 * The count is the one of QEMU's tests/plugin/insn.c: each block adds its
 * instruction count each time it runs.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- QEMU 7.2's plugin API, version 1 (the declarations this uses) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct {
  const char *target_name;
  struct {
    int min, cur;
  } version;
  bool system_emulation;
  union {
    struct {
      int smp_vcpus, max_vcpus;
    } system;
  } u;
} qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, void *), void *userdata);
void qemu_plugin_outs(const char *string);

#define EXPORT __attribute__((visibility("default")))
EXPORT extern const int qemu_plugin_version;
EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

const int qemu_plugin_version = 1;

/* ---- the count ---------------------------------------------------------- */

/* A firmware image translates a few thousand blocks; past this many the
 * count would be wrong, so the plugin says so instead of counting. */
#define MAX_BLOCKS 262144

typedef struct {
  uint64_t address, instructions, executions;
} block;

static block blocks[MAX_BLOCKS];
static size_t n_blocks;
static bool overflowed;

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  if (n_blocks == MAX_BLOCKS) {
    overflowed = true;
    return;
  }
  block *b = &blocks[n_blocks++];
  b->address = qemu_plugin_tb_vaddr(tb);
  b->instructions = qemu_plugin_tb_n_insns(tb);
  /* one add in the translated code each time the block runs: no callback */
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->executions, 1);
}

static void on_quit(qemu_plugin_id_t id, void *userdata) {
  (void)id, (void)userdata;
  char line[96];
  const char *path = getenv("KILN_INSN_OUT");
  FILE *f = path ? fopen(path, "w") : NULL;
  uint64_t total = 0;
  for (size_t i = 0; i < n_blocks; i++) {
    const block *b = &blocks[i];
    if (b->executions == 0) continue;
    total += b->instructions * b->executions;
    if (f)
      fprintf(f, "%llx %llu %llu\n", (unsigned long long)b->address, (unsigned long long)b->instructions,
              (unsigned long long)b->executions);
  }
  if (f) fclose(f);
  if (overflowed)
    snprintf(line, sizeof line, "kiln_insn_overflow %d\n", MAX_BLOCKS);
  else
    snprintf(line, sizeof line, "kiln_insn_total %llu\n", (unsigned long long)total);
  qemu_plugin_outs(line);
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  (void)info, (void)argc, (void)argv;
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_quit, NULL);
  return 0;
}
