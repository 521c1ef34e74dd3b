// Force-included (-include) into every C++ file of a release build (CMake option
// ATTNFLOW_GLIBC_FLOOR, set by scripts/prebuild-linux.sh). glibc 2.29 gave exp, exp2, log, log2
// and pow new default symbol versions (the same functions without the old SVID error handling,
// which attnflow never reads). A binary linked against a newer glibc would ask for those versions
// and fail to load on glibc 2.28; binding the references to the versions every glibc has keeps
// the release binaries' floor at GLIBC_2.28.
#pragma once

#if defined(__x86_64__)
#define ATTNFLOW_GLIBC_BASELINE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define ATTNFLOW_GLIBC_BASELINE "GLIBC_2.17"
#endif

#ifdef ATTNFLOW_GLIBC_BASELINE
__asm__(".symver exp,exp@" ATTNFLOW_GLIBC_BASELINE);
__asm__(".symver exp2,exp2@" ATTNFLOW_GLIBC_BASELINE);
__asm__(".symver log,log@" ATTNFLOW_GLIBC_BASELINE);
__asm__(".symver log2,log2@" ATTNFLOW_GLIBC_BASELINE);
__asm__(".symver pow,pow@" ATTNFLOW_GLIBC_BASELINE);
#endif
