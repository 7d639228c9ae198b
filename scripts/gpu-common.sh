# Sourced by scripts/gpu-check.sh and scripts/gpu-run.sh: what the lent GPU machine lacks.
#
# pcre2_pkgconfig_standin BUILD_DIR [SYS_DIR]
#   The machine has the PCRE2 runtime (libpcre2-8.so.0) but not libpcre2-dev (seen 2026-11-26),
#   so CMake's pkg_check_modules(PCRE2) fails. This writes BUILD_DIR/pkgconfig/libpcre2-8.pc and
#   puts it on PKG_CONFIG_PATH: with SYS_DIR (a folder carried from a machine that has the dev
#   package: include/pcre2.h, lib/libpcre2-8.so.0) it is a full entry, enough for the tokenizers;
#   without, a runtime-only entry with no headers, enough for targets that never include pcre2.h
#   (the kernels and their tests). Does nothing when the real development files are there.
pcre2_pkgconfig_standin() {
  local build_dir=$1 sys=${2:-}
  pkg-config --exists libpcre2-8 && return 0
  mkdir -p "$build_dir/pkgconfig"
  if [[ -n "$sys" ]]; then
    printf '%s\n' "Name: libpcre2-8" "Description: carried header + a carried copy of the runtime library" \
      "Version: 10.42" "Libs: -L$sys/lib -l:libpcre2-8.so.0" "Cflags: -I$sys/include" \
      > "$build_dir/pkgconfig/libpcre2-8.pc"
  else
    printf '%s\n' "Name: libpcre2-8" "Description: runtime-only stand-in (no headers)" \
      "Version: 10.42" "Libs: -l:libpcre2-8.so.0" "Cflags:" > "$build_dir/pkgconfig/libpcre2-8.pc"
  fi
  export PKG_CONFIG_PATH="$PWD/$build_dir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  echo "libpcre2-8 development files missing: using a pkg-config stand-in (${sys:-runtime only})"
}
