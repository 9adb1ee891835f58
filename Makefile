# Quick start: `make demo` (set up, fetch SmolLM2 and Gemma 3 270M, build, generate) and `make test` (set up, build,
# run every test, then the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer).
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
MODELS ?= $(or $(TINYSERVE_MODELS),$(HOME)/.cache/tinyserve)

.PHONY: all setup build models checkpoints demo test test-release test-sanitize clean

all: build

setup:
	scripts/setup

build: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

models: setup
	scripts/fetch-models

# Random-weight GPT-2, TinyLlama and Gemma 3 1B shaped checkpoints, as SafeTensors and as GGUF (~4 GB, ~1 min).
checkpoints: setup
	TINYSERVE_MODELS=$(MODELS) python3 scripts/make-checkpoints.py

demo: build models
	$(BUILD)/bin/tinyserve run -m $(MODELS)/SmolLM2-135M-Instruct.Q4_1.gguf --chat \
	  -p "Write three sentences about the ocean." -n 96 --temp 0.7 --seed 1 -t $(JOBS)

test: test-release test-sanitize

test-release: build models checkpoints
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Sanitizers slow everything ~10x: the model-level tests (label "model") run in the release pass
# only, so the sanitizer build leaves them (and the micro-benchmarks) out.
test-sanitize: setup
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYSERVE_SANITIZE=ON \
	  -DTINYSERVE_MODEL_TESTS=OFF -DTINYSERVE_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) -LE model

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
