# Seer: the two commands of README.md are `make quickstart` and `make test`.
#   make setup       Debian packages, the Python venv (libtorch), the embedded model and books
#   make build       configure (once) and build into build/ (build/seer)
#   make test        setup + build + every test (ctest)
#   make quickstart  setup + build the seer program + `build/seer run quickstart`
#   make gpu-check   on the GPU machine: build there and run the GPU tests (scripts/gpu-check.sh)
#   make fuzz        libFuzzer over every parser of outside input, FUZZ_SECONDS (60) each (scripts/fuzz.sh)
#   make test-sanitize  every CPU test under AddressSanitizer + UndefinedBehaviorSanitizer (scripts/test-sanitize.sh)
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
# ccache hashes paths inside the tree relative to it, so every clone (CI's too) shares one cache.
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: setup build test quickstart gpu-check fuzz test-sanitize clean

setup:
	@scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure

# The demo needs the `seer` program only, not the tests: a first run builds about half as much.
quickstart: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target seer
	$(BUILD)/seer run quickstart

gpu-check:
	scripts/gpu-check.sh

fuzz: setup
	scripts/fuzz.sh

test-sanitize: setup
	scripts/test-sanitize.sh

clean:
	rm -rf $(BUILD)
