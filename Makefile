# Fusion: the only build entry point. See README.md.
#   make            build libfusion and the three binaries into build/
#   make test       build and run every test (unit, integration, conformance, short fuzz runs)
#   make asan       the same tests built with AddressSanitizer + UBSan (build/asan)
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (default 60)
#   make soak       the long reliability run: 1000 SIGKILL cycles, 30 min fuzzing per target (one per core)
#   make bench      benchmarks; table on stdout, build/bench/report.json
#   make bench-profile  perf profile of the broker under the bench's load (docs/performance.md)
#   make demo       a throw-away demo region on loopback
#   make deps       install missing Debian packages (as root), or print the apt-get line

VERSION   := 0.1.0
BUILD     ?= build
SHARED    ?= ../shared
CC        ?= cc
SAN       ?=
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 4

PKGS      := libzmq libczmq libsodium libprotobuf-c sqlite3 yaml-0.1 jansson
DEB_PKGS  := build-essential pkg-config libzmq3-dev libczmq-dev libsodium-dev libprotobuf-c-dev \
             protobuf-c-compiler libsqlite3-dev libyaml-dev libjansson-dev libcmocka-dev \
             clang libclang-rt-14-dev jq scdoc sqlite3 systemd

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS  := -D_GNU_SOURCE -DFX_VERSION=\"$(VERSION)\" -Iinclude -I$(BUILD)/gen -MMD -MP
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 $(WARN) -fPIC
ifeq ($(SAN),1)
CFLAGS    += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS   += -fsanitize=address,undefined
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS    += $(PKG_LIBS) -lpthread -lm
# V=1 shows full command lines.
ifneq ($(V),1)
Q := @
endif

GEN_C     := $(BUILD)/gen/fusion.pb-c.c
GEN_H     := $(BUILD)/gen/fusion.pb-c.h
LIB_SRC   := $(wildcard lib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/fusion.pb-c.o
LIBFUSION := $(BUILD)/lib/libfusion.a

ADMIN_SRC  := $(wildcard broker/admin*.c)
BROKER_SRC := $(filter-out $(ADMIN_SRC),$(wildcard broker/*.c))
AGENT_SRC  := $(wildcard agent/*.c)
BINS       := $(BUILD)/bin/fusion-broker $(BUILD)/bin/fusion-admin $(BUILD)/bin/fusion-agent

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
BENCH_SRC  := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
MAN_SRC    := $(wildcard doc/man/*.scd)
MANS       := $(MAN_SRC:doc/man/%.scd=$(BUILD)/man/%)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all binaries test test-build asan fuzz fuzz-build soak bench bench-build bench-profile demo deps install clean format
.SUFFIXES:
# Objects made by pattern rules are kept, so a second make rebuilds nothing.
.SECONDARY:

all: deps
	@$(MAKE) --no-print-directory binaries

binaries: $(BINS) $(MANS)

# Manual pages (doc/man/NAME.SECTION.scd), with scdoc.
$(BUILD)/man/%: doc/man/%.scd
	@mkdir -p $(dir $@)
	@echo "  SCDOC   $@"
	$(Q)scdoc <$< >$@.tmp && mv $@.tmp $@

deps:
	@sh tests/deps.sh $(DEB_PKGS)

# One run of protoc-c makes both (a grouped target): as two targets, a parallel make ran it twice,
# and the second run's newer header made the next make compile again what included it.
$(GEN_C) $(GEN_H) &: proto/fusion.proto
	@mkdir -p $(BUILD)/gen
	@echo "  PROTOC  $<"
	$(Q)protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/fusion.proto

$(BUILD)/obj/gen/fusion.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(LIBFUSION): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/fusion-broker: $(BROKER_SRC:%.c=$(BUILD)/obj/%.o) $(LIBFUSION)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# fusion-admin status reads the broker's configuration and speaks to its metrics endpoint.
$(BUILD)/bin/fusion-admin: $(ADMIN_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/broker/config.o \
                           $(BUILD)/obj/broker/metrics.o $(LIBFUSION)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bin/fusion-agent: $(AGENT_SRC:%.c=$(BUILD)/obj/%.o) $(LIBFUSION)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/tests/unit/testutil.o $(LIBFUSION)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# Test tools: small programs the integration tests drive (a rogue client, ...).
$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIBFUSION)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Bench only: fusion-broker with its audit appends compiled out (FX_BENCH_NO_AUDIT), so that
# make bench measures what the audit costs in the same run. Never installed; the real broker has
# no switch, at run time or build time, that turns its audit off.
NOAUDIT_BROKER := $(BUILD)/bench/fusion-broker-noaudit
$(BUILD)/obj-noaudit/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $< (bench: no audit)"
	$(Q)$(CC) $(CPPFLAGS) -DFX_BENCH_NO_AUDIT $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(NOAUDIT_BROKER): $(BROKER_SRC:%.c=$(BUILD)/obj-noaudit/%.o) $(LIBFUSION)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

BENCH_LIB := $(BUILD)/obj/tests/bench/report.o $(BUILD)/obj/tests/bench/proc.o
$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(BENCH_LIB) $(LIBFUSION)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Programs bench_broker drives: the forwarder of the bare ZeroMQ hop, and the Mosquitto peer,
# built only where libmosquitto is installed (make bench installs it as root; nothing else in
# the tree links it). The main binaries never depend on either.
BENCH_PEER_PKGS := mosquitto libmosquitto-dev
BENCH_HELPERS   := $(BUILD)/bench/hop_forwarder $(BUILD)/bench/wal_pages
ifeq ($(shell pkg-config --exists libmosquitto 2>/dev/null && echo yes),yes)
BENCH_HELPERS   += $(BUILD)/bench/peer_mosquitto
endif
$(BUILD)/bench/hop_forwarder: $(BUILD)/obj/tests/bench/hop_forwarder.o
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bench/wal_pages: $(BUILD)/obj/tests/bench/wal_pages.o
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bench/peer_mosquitto: $(BUILD)/obj/tests/bench/peer_mosquitto.o $(BENCH_LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) $(shell pkg-config --libs libmosquitto) -o $@

# Everything the test runner needs, in the chosen build directory.
test-build: $(BINS) $(UNIT_BINS) $(TOOL_BINS)

test: deps
	@$(MAKE) --no-print-directory test-build fuzz-build
	@FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) sh tests/run.sh $(BUILD) $(SHARED)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 test-build
	@FUSION_SANITIZED=1 FUZZ_SECONDS=0 sh tests/run.sh build/asan $(SHARED)

# libFuzzer targets: clang with the fuzzer, ASan and UBSan runtimes, over the library sources.
FUZZ_FLAGS := -std=c11 -g -O1 -D_GNU_SOURCE -DFX_VERSION=\"$(VERSION)\" -Iinclude -I$(BUILD)/gen \
              -fsanitize=fuzzer,address,undefined
# The library is compiled once for fuzzing (coverage and sanitizers), then linked per target.
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/gen/fusion.pb-c.o
$(BUILD)/fuzz/obj/gen/fusion.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)clang $(FUZZ_FLAGS:-fsanitize=fuzzer,%=-fsanitize=fuzzer-no-link,%) $(PKG_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)clang $(FUZZ_FLAGS:-fsanitize=fuzzer,%=-fsanitize=fuzzer-no-link,%) -MMD -MP $(PKG_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/libfusion-fuzz.a: $(FUZZ_LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/libfusion-fuzz.a
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_FLAGS) $(PKG_CFLAGS) $< $(BUILD)/fuzz/libfusion-fuzz.a $(PKG_LIBS) -lpthread -lm -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# SOAK_CYCLES (default 1000) and SOAK_FUZZ_SECONDS (default 1800) size it; SOAK_RESUME=1 goes on
# with an interrupted soak; docs/reliability.md.
soak: deps
	@$(MAKE) --no-print-directory test-build fuzz-build
	@sh tests/soak/run.sh $(BUILD) $(FUZZ_BINS)

# As root, the peers are installed quietly like make deps does; otherwise, when they are missing,
# bench_broker skips them with a note. bench-build runs in a new make, which sees them.
bench: deps
	@if [ "$$(id -u)" = 0 ]; then sh tests/deps.sh $(BENCH_PEER_PKGS) || \
	    echo "bench: cannot install $(BENCH_PEER_PKGS); the Mosquitto peer is skipped"; fi
	@$(MAKE) --no-print-directory bench-build
	@sh tests/bench/run.sh $(BUILD) $(BENCH_BINS)

bench-build: $(BINS) $(BENCH_BINS) $(NOAUDIT_BROKER) $(BENCH_HELPERS)

# Where the broker's time goes: perf over bench_broker's delivered-message phase (needs perf).
bench-profile: deps
	@$(MAKE) --no-print-directory bench-build
	@sh tests/bench/profile.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory binaries
	@sh deploy/demo.sh $(BUILD)

# Installation directories (GNU names). PREFIX=/usr puts configuration in /etc. The state is in
# /var/lib/fusion whatever the PREFIX: the units' StateDirectory= (systemd creates it under
# /var/lib, and ProtectSystem=strict leaves only it writable), and the example configurations
# name it so.
PREFIX         ?= /usr/local
DESTDIR        ?=
bindir         ?= $(PREFIX)/bin
mandir         ?= $(PREFIX)/share/man
docdir         ?= $(PREFIX)/share/doc/fusion
systemdunitdir ?= $(PREFIX)/lib/systemd/system
ifeq ($(PREFIX),/usr)
sysconfdir     ?= /etc
else
sysconfdir     ?= $(PREFIX)/etc
endif
RENDER := sed -e 's|@bindir@|$(bindir)|g' -e 's|@sysconfdir@|$(sysconfdir)|g'

install: all
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5 \
	    $(DESTDIR)$(systemdunitdir) $(DESTDIR)$(sysconfdir)/fusion/agent $(DESTDIR)$(docdir)
	install -m 0755 $(BINS) $(DESTDIR)$(bindir)/
	install -m 0644 $(filter %.1,$(MANS)) $(DESTDIR)$(mandir)/man1/
	install -m 0644 $(filter %.5,$(MANS)) $(DESTDIR)$(mandir)/man5/
	for f in deploy/systemd/*.in; do \
	    $(RENDER) $$f >$(DESTDIR)$(systemdunitdir)/$$(basename $$f .in) || exit 1; \
	    chmod 0644 $(DESTDIR)$(systemdunitdir)/$$(basename $$f .in); done
	$(RENDER) deploy/etc/broker.yaml.in >$(DESTDIR)$(sysconfdir)/fusion/broker.yaml.example
	$(RENDER) deploy/etc/agent.yaml.in >$(DESTDIR)$(sysconfdir)/fusion/agent/agent.yaml.example
	install -m 0644 deploy/policy/bali-process.yaml $(DESTDIR)$(sysconfdir)/fusion/policy.yaml.example
	install -d $(DESTDIR)$(docdir)/exercises
	install -m 0644 README.md docs/*.md docs/*.json $(DESTDIR)$(docdir)/
	install -m 0644 deploy/exercises/*.yaml $(DESTDIR)$(docdir)/exercises/

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/obj-noaudit $(BUILD)/fuzz/obj -name "*.d" 2>/dev/null)
