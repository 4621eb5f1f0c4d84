# Fuzzing the migration receiver (tests/fuzz/, docs/TESTING.md).
#
#   make fuzz-build   -> $(BUILD)/fuzz/fuzz_recv (clang, libFuzzer, ASan+UBSan)
#   make fuzz         the long campaign: FUZZ_RUNS inputs (default 10 million)
#                     on one core, niced, over the seeds in tests/fuzz/corpus
#                     plus what it found before (build/fuzz/corpus); a crash,
#                     leak, UB, timeout or an allocation over FUZZ_MALLOC_MB
#                     stops it with the input in build/fuzz/
#   make fuzz-short   the step of make check: FUZZ_SECONDS (45) from the
#                     seeds alone, fixed seed; one TAP line (skipped where
#                     clang has no libFuzzer)
#
# The target links the decoder (proto.c, proto_dec.c), the mode byte's
# parser (tls.c) and libvmm's state parser (state.c, state_buf.c, instrumented; the rest
# of libvmm.a only for the symbols state.c names), never the encoder.

.PHONY: fuzz fuzz-build fuzz-short

FUZZ_CC		?= clang
FUZZ_OUT	:= $(BUILD)/fuzz
FUZZ_BIN	:= $(FUZZ_OUT)/fuzz_recv
FUZZ_RUNS	?= 10000000
FUZZ_SECONDS	?= 45
FUZZ_MALLOC_MB	?= 64
FUZZ_SRCS	:= $(TOP)/tests/fuzz/fuzz_recv.c \
		   $(addprefix $(TOOLS_SRC)/migrate/,proto.c proto_dec.c tls.c) \
		   $(TOP)/tools/vmm/state.c $(TOP)/tools/vmm/state_buf.c
FUZZ_CFLAGS	:= -std=gnu11 -O1 -g -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		   -fno-sanitize-recover=all -fno-omit-frame-pointer \
		   -Wall -Wextra -Werror -Wno-gnu-variable-sized-type-not-at-end \
		   -I$(TOP)/include/uapi -I$(TOOLS_SRC)/lib -I$(TOOLS_SRC)/migrate -I$(TOP)/tools/vmm \
		   $(shell pkg-config --cflags gnutls json-c 2>/dev/null)
FUZZ_LDLIBS	:= $(shell pkg-config --libs gnutls json-c 2>/dev/null) -lxxhash -pthread

fuzz-build: $(FUZZ_BIN)

$(FUZZ_BIN): $(FUZZ_SRCS) $(wildcard $(TOOLS_SRC)/migrate/*.h $(TOP)/tools/vmm/*.h) $(VMM_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRCS) $(VMM_LIB) $(FUZZ_LDLIBS)

fuzz: deps $(FUZZ_BIN)
	@mkdir -p $(FUZZ_OUT)/corpus
	cd $(FUZZ_OUT) && nice -n 10 ./fuzz_recv -runs=$(FUZZ_RUNS) -seed=$${FUZZ_SEED:-0} \
		-dict=$(TOP)/tests/fuzz/kmp.dict -max_len=65536 -timeout=10 \
		-rss_limit_mb=2048 -malloc_limit_mb=$(FUZZ_MALLOC_MB) -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_OUT)/ corpus $(TOP)/tests/fuzz/corpus 2>&1 | \
		tee $(FUZZ_OUT)/fuzz.log | grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE)'; \
		test $${PIPESTATUS[0]} -eq 0

fuzz-short:
	@FUZZ_CC=$(FUZZ_CC) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_MALLOC_MB=$(FUZZ_MALLOC_MB) \
		$(TOP)/tests/fuzz/run.sh
