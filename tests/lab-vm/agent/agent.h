/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmagent (kmagent.c): the subcommands and the helpers they share
 * (util.c).
 */
#ifndef KMAGENT_H
#define KMAGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { AG_OK = 0, AG_FAIL = 1, AG_USAGE = 2, AG_SYS = 3 };

int ag_mem_main(int argc, char **argv);
int ag_disk_write_main(int argc, char **argv);
int ag_disk_check_main(int argc, char **argv);
int ag_echo_main(int argc, char **argv);

/* tick.c: the ticker of kmagent echo --tick-ms */
struct pollfd;
int ag_tick_open(uint16_t port);
int ag_tick_pollfds(struct pollfd *p);		/* 1 + 8 entries at most */
void ag_tick_events(const struct pollfd *p, int n);
void ag_tick_send(void);

/* util.c */
extern volatile sig_atomic_t ag_stop;	/* SIGTERM or SIGINT came */
void ag_catch_stop(void);
uint64_t ag_now_ns(void);		/* CLOCK_MONOTONIC */
/* Sleeps until @t_ns (CLOCK_MONOTONIC); returns early on a signal. */
void ag_sleep_until(uint64_t t_ns);
/*
 * A decimal number in [min, max] (with an optional K/M/G suffix when
 * @suffix) into *out; prints "kmagent: OPT: ..." and returns false when
 * it is not one.
 */
bool ag_num(const char *opt, const char *s, uint64_t min, uint64_t max, bool suffix,
	    uint64_t *out);
/* CRC-32C (Castagnoli), as iSCSI and ext4 use it; @crc: 0 to start. */
uint32_t ag_crc32c(uint32_t crc, const void *buf, size_t len);
/* A fast 64-bit mix (splitmix64): the pattern of pages and payloads. */
uint64_t ag_mix64(uint64_t x);

#endif
