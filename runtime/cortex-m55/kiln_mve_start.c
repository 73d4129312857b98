/*
 * The Cortex-M55 leaves reset with its floating-point and vector unit
 * switched off: any Helium instruction would fault (NOCP) until CPACR grants
 * access to coprocessors 10 and 11. The firmware's start-up is the same for
 * every Arm M-profile target, so this target enters main through this
 * function instead: rules/cortex-m55.lua links with -Wl,--wrap=main, which
 * sends the start-up's call of main here and names the real one __real_main.
 */
#include <stdint.h>

#define CPACR (*(volatile uint32_t *)0xE000ED88u) /* Coprocessor Access Control Register */
#define CP10_CP11_FULL_ACCESS (0xFu << 20)

int __real_main(void);
int __wrap_main(void);

int __wrap_main(void) {
  CPACR |= CP10_CP11_FULL_ACCESS;
  /* the new access rights apply to the instructions after these barriers */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  return __real_main();
}
