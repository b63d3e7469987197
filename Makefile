# Palabre: one flat Makefile over pkg-config.
#   make            build/palabre
#   make run        install missing packages, build, start on http://127.0.0.1:8080
#   make test       install test dependencies, build, run every suite
#   make asan       the same suites on an AddressSanitizer + UBSan build
#   make bench      benchmarks (figures go to docs/benchmarks.md)
#   make bench-compare  palabre-load scenarios against palabre and Janus
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (clang)

BUILD   ?= build
SAN     ?=
CC      ?= cc
PKGS    := libwebsockets jansson sqlite3 nice libsrtp2 openssl libgcrypt opus vpx glib-2.0 inih cjose hiredis libcurl
# OPT is the optimisation level; CFLAGS/LDFLAGS given on the command line are
# added to ours (override), never replace them.
OPT     ?= -O2 -g
override CFLAGS  += $(OPT) -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -MMD -MP \
           -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
# libyuv (Debian libyuv-dev, no pkg-config file): the mixer's picture scaling.
override LDLIBS  += -lyuv
ifeq ($(SAN),1)
override CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=address,undefined
endif
# libnice before 0.1.22 (Debian 12 has 0.1.21) declares consent lost 10 s after the
# last answered check instead of RFC 7675's 30 s: media/ice.c then keeps consent
# off (see there).
ifeq ($(shell pkg-config --atleast-version=0.1.22 nice 2>/dev/null && echo y),y)
override CFLAGS  += -DPAL_NICE_CONSENT_30S=1
endif
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)
override CFLAGS  += -DPAL_VERSION='"$(VERSION)"'

# Every .c under common/, signaling/, media/, mixer/ is part of the core library, except
# main.c which holds the palabre entry point. The layers read top-down,
# signaling → media → mixer → common, and a lower one never includes a higher
# one's header. common/ is what every layer uses: log, clocks and random, the
# command queue, and the RTP / VP8 wire formats the mixer reads too.
CORE_SRC  := $(filter-out signaling/main.c,$(wildcard common/*.c signaling/*.c media/*.c mixer/*.c))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC  := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz-replay/%,$(FUZZ_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/%,$(BENCH_SRC))
# The ops tool palabre-load is built from bench/load/*.c.
LOAD_SRC  := $(wildcard bench/load/*.c)
BENCH_BIN += $(BUILD)/palabre-load

.SECONDARY:
.PHONY: all deps test-deps run test test-run asan bench bench-compare fuzz clean format
all: $(BUILD)/palabre $(BENCH_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<";)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libpalabre.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/palabre: $(BUILD)/obj/signaling/main.o $(BUILD)/libpalabre.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libpalabre.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/fuzz-replay/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay.o $(BUILD)/libpalabre.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/palabre-load: $(LOAD_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libpalabre.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench_%: $(BUILD)/obj/bench/bench_%.o $(BUILD)/libpalabre.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/install-deps.sh build

test-deps: deps
	@scripts/install-deps.sh test

run: deps $(BUILD)/palabre
	@mkdir -p var
	@echo "Palabre: open http://127.0.0.1:8080/ in your browser (Ctrl-C stops the server)"
	exec $(BUILD)/palabre --listen 127.0.0.1:8080 --data-dir ./var

test: test-deps
	$(MAKE) test-run

test-run: $(BUILD)/palabre $(UNIT_BIN) $(FUZZ_REPLAY) $(BENCH_BIN)
	@BUILD=$(BUILD) tests/run.sh

asan: test-deps
	PALABRE_TIME_SCALE=3 $(MAKE) BUILD=build-asan SAN=1 OPT="-O1 -g" test-run

# test-deps: the benchmarks use valgrind (callgrind), Chromium and the npm
# packages (bench/join.sh), like the tests.
bench: test-deps all
	@bench/run.sh

# palabre-load's scenarios against palabre and Debian's janus, side by side
# (installs janus if missing): bench/results/compare.json, docs/benchmarks.md.
bench-compare: deps $(BUILD)/palabre $(BUILD)/palabre-load
	@BUILD=$(BUILD) bench/compare.sh $(SCENARIOS)

# libFuzzer needs clang; targets live in tests/fuzz/fuzz_<name>.c.
FUZZ_SECONDS ?= 60
fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

format:
	clang-format -i $(wildcard */*.c */*.h include/palabre/*.h tests/*/*/*.c bench/*.c)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
