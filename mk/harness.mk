# The kernel's kselftest harness (kselftest_harness.h, kselftest.h), taken
# at build time from Debian's linux-source-6.1 tarball; never committed.
# Shared by mk/kselftest.mk and mk/tools.mk: include this file rather than
# writing a rule for these paths, and depend on $(KSFT_HARNESS_HDRS).

ifndef KMIGRATE_HARNESS_MK
KMIGRATE_HARNESS_MK := 1

LINUX_SOURCE_TAR	?= /usr/src/linux-source-6.1.tar.xz
LINUX_SOURCE_DIR	:= $(BUILD)/linux-source
KSFT_HARNESS_DIR	:= $(LINUX_SOURCE_DIR)/tools/testing/selftests
KSFT_HARNESS_HDRS	:= $(KSFT_HARNESS_DIR)/kselftest_harness.h \
			   $(KSFT_HARNESS_DIR)/kselftest.h

# One extraction yields both headers (xz has to be read whole: ~10 s);
# a grouped target (GNU make >= 4.3) so that make -j runs it once.
$(KSFT_HARNESS_HDRS) &:
	@test -r $(LINUX_SOURCE_TAR) || { echo "harness: $(LINUX_SOURCE_TAR) missing; run 'make deps'" >&2; exit 1; }
	mkdir -p $(LINUX_SOURCE_DIR)
	tar -xf $(LINUX_SOURCE_TAR) --strip-components=1 -C $(LINUX_SOURCE_DIR) \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h
	touch $(KSFT_HARNESS_HDRS)

endif
