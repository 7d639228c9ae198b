# Sourced by the fetch scripts. deb_unpack NAME VERSION CACHE_DIR unpacks one Debian package, at
# a pinned version, under CACHE_DIR/root without installing it (data packages such as R's pull in
# all of R when installed), and prints that folder. A .deb already in CACHE_DIR or in apt's archive
# is reused; otherwise `apt-get download` fetches it (needs Debian bookworm's package lists).
deb_unpack() {
  local name="$1" version="$2" cache="$3" deb stamp
  stamp="$cache/root/.unpacked-${name}_${version}"
  if [[ -f "$stamp" ]]; then
    echo "$cache/root"
    return 0
  fi
  mkdir -p "$cache"
  deb="$(ls "$cache/${name}_${version}_"*.deb "/var/cache/apt/archives/${name}_${version}_"*.deb \
           2>/dev/null | head -n1 || true)"
  if [[ -z "$deb" ]]; then
    # Running as root, apt's sandbox user cannot write here; -o keeps it from warning about that.
    # A machine whose package lists were never fetched knows no package: fetch them once, retry.
    (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "${name}=${version}" \
       >/dev/null 2>&1) \
      || { apt-get update -qq >/dev/null 2>&1 || true
           (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "${name}=${version}" \
              >/dev/null); } \
      || { echo "deb_unpack: 'apt-get download ${name}=${version}' failed" \
                "(needs Debian bookworm sources)" >&2; return 1; }
    deb="$(ls "$cache/${name}_${version}_"*.deb | head -n1)"
  fi
  rm -rf "$cache/root"
  dpkg -x "$deb" "$cache/root"
  touch "$stamp"
  echo "$cache/root"
}
