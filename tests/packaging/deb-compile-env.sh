# shellcheck shell=bash
# Sourced by tests/run-all.sh and build-deb.sh: what makes the -Werror build and the package
# build (dpkg-buildpackage, packaging/debian/rules) run the same compiles, so that the package
# build finds every object in ccache (docs/packaging.md, "One compile for the tests and the
# package"). Both build dirs sit two levels below their source tree (build/test, build/deb), so
# the paths relative to CCACHE_BASEDIR are the same.

# deb_compile_env SOURCE_DIR: exports ccache settings under which an object does not depend on
# where its tree is: paths relative to SOURCE_DIR; the working directory and Debian's
# -ffile-prefix-map=<tree>=. left out of the hash (they change only paths in the debug info).
# And -Werror for dpkg-buildflags, so both compiles have it and a hit never hides a warning;
# and dh_auto_build's LC_ALL, which ccache hashes.
deb_compile_env() {
  export CCACHE_BASEDIR=$1 CCACHE_NOHASHDIR=1 CCACHE_IGNOREOPTIONS='-ffile-prefix-map=*'
  export DEB_CFLAGS_APPEND=-Werror DEB_CXXFLAGS_APPEND=-Werror LC_ALL=C.UTF-8
}

# deb_cmake_options SOURCE_DIR: prints, one a line, the CMake options that debhelper's cmake
# build system gives the package (with deb_compile_env's -Werror): CMAKE_BUILD_TYPE=None and
# dpkg-buildflags with the rules' DEB_BUILD_MAINT_OPTIONS, CPPFLAGS appended (CMake has none).
deb_cmake_options() {
  local options
  options=$(sed -n 's/^export DEB_BUILD_MAINT_OPTIONS *= *//p' "$1/packaging/debian/rules")
  echo -DCMAKE_BUILD_TYPE=None
  echo "-DCMAKE_C_FLAGS=$(deb_flag "$1" "$options" CFLAGS) $(deb_flag "$1" "$options" CPPFLAGS)"
  echo "-DCMAKE_CXX_FLAGS=$(deb_flag "$1" "$options" CXXFLAGS) $(deb_flag "$1" "$options" CPPFLAGS)"
  echo "-DCMAKE_EXE_LINKER_FLAGS=$(deb_flag "$1" "$options" LDFLAGS)"
}

# deb_flag SOURCE_DIR MAINT_OPTIONS NAME: dpkg-buildflags' NAME for a package built in SOURCE_DIR.
deb_flag() { (cd "$1" && DEB_BUILD_MAINT_OPTIONS=$2 dpkg-buildflags --get "$3"); }
