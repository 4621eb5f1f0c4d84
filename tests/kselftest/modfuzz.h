/* SPDX-License-Identifier: GPL-2.0 */
/*
 * modfuzz: what its files share (modfuzz.c runs the tests: see there).
 * The files, helpers first: modfuzz_opts.c (the options), modfuzz_env.c
 * (ioctls, module, rig, tallies, workers), modfuzz_model.c (the
 * fuzzer's model and world), modfuzz_fuzz.c (the fuzzer's operations),
 * modfuzz_race.c (the race threads), modfuzz_loops.c (load/unload
 * loops, leaks), modfuzz.c (the harness: fixture, tests, main).
 */

#ifndef MODFUZZ_H
#define MODFUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <netlink/genl/ctrl.h>
#include <linux/netlink.h>


#include "kmtest.h"
#include "dp_vm.h"

#define REC_MAGIC	0x52474d4bu
#define REC_PAGES	3
#define REC_ZERO	4
#define REC_HDR		16

/* ---- options (modfuzz_opts.c) ------------------------------------------ */

extern uint64_t opt_seed;
extern long opt_seconds;
extern long opt_iterations;
extern int opt_races;
extern int opt_loops;
extern char opt_ko[PATH_MAX];

int modfuzz_options(int argc, char **argv);

/* ---- small helpers ----------------------------------------------------- */

/* splitmix64: one 64-bit state, reproducible from the seed. */
struct rng {
	uint64_t s;
};

static inline uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint32_t rn(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

/* true with probability 1/n */
static inline bool one_in(struct rng *r, uint32_t n)
{
	return rn(r, n) == 0;
}

/* ---- a rig: guest, session, connection --------------------------------- */

struct rig {
	struct dp_vm vm;
	int km;
	int tx, rx;
	struct dp_reader rd;
	bool reading;
	char err[200];
};

#define MAX_ERRS	8

/* What a loop of one ioctl saw: how often each result came back. */
struct tally {
	int err[MAX_ERRS];
	unsigned long cnt[MAX_ERRS];
	unsigned long other;
	int other_err;
};

struct worker {
	pthread_t thr;
	int km;
	int op;			/* KMIGRATE_HARVEST, KMIGRATE_SEND_PAGES, ... */
	const uint64_t *gfns;	/* sends */
	uint32_t n;
	uint32_t flags;
	volatile int stop;
	bool started;
	struct tally t;
	uint64_t bytes;		/* sent, by the sends that succeeded */
	unsigned long calls;
	int first_fail;		/* first non-zero result */
};

/* ========================================================================
 * The fuzzer
 * ======================================================================== */

#define FZ_SESSIONS	6
#define FZ_SOCKS	3
#define FZ_SLOT1_GPA	(64ull << 20)
#define FZ_SLOT1_SIZE	(1u << 20)
#define FZ_KVM_MAX_VCPUS 1024	/* x86 KVM_MAX_VCPUS on 6.1 and 6.12 */

enum { VM_RING, VM_PLAIN, FZ_VMS };

/* A wrong or right file descriptor for ATTACH and BIND, and what each must
 * answer (BIND's answer for a live session without a socket). */
struct fz_fd {
	const char *name;
	int fd;
	int attach;		/* expected ATTACH result (a free session) */
	int bind;		/* expected BIND result */
	int vm;			/* VM_* for the real VMs, -1 else */
	bool own;		/* ours to close at the end */
};

struct fz_sess {
	int fd;			/* -1: slot unused */
	int vm;			/* VM_*, -1: none attached */
	bool sock;
	int state;		/* enum kmigrate_session_state */
	uint32_t rounds, round;
	uint32_t error;
};

struct fz {
	struct rng r;
	struct dp_vm vm[FZ_VMS];
	void *slot1;		/* host memory of VM_RING's slot 1 */
	bool slot1_on;
	int tx[FZ_SOCKS], rx[FZ_SOCKS];
	struct dp_reader rd[FZ_SOCKS];
	struct fz_fd fds[24];
	int nfds;
	struct fz_sess s[FZ_SESSIONS];
	struct fz_sess *holder[FZ_VMS];	/* the session each VM is attached to */
	/* generic netlink, raw */
	int nl;
	int family;
	uint32_t seq;
	/* hostile memory */
	void *unmapped;		/* a page no access is allowed to */
	uint64_t gfns[KMIGRATE_BATCH_MAX + 8];
	uint64_t hbuf[KMIGRATE_BATCH_MAX];
	uint32_t fetch[FZ_KVM_MAX_VCPUS * 5];
	/* statistics */
	unsigned long calls, by_op[32], ok_op[32];
	unsigned long genl_msgs, genl_ok;
	/* the first mismatch */
	char fail[400];
	/* what runs now, for the watchdog */
	volatile int cur_op;
	volatile uint64_t cur_since;
	uint64_t cur_iter;
};

enum {
	OP_OPEN, OP_CLOSE, OP_ATTACH, OP_DETACH, OP_BIND, OP_ROUND, OP_HARVEST,
	OP_SEND, OP_END, OP_BW, OP_STATS, OP_VERSION, OP_RAW, OP_GENL,
	OP_SLOT, OP_WRITE, OP_FORK, OP_NR
};
extern const char *const fz_op_names[];


struct attach_arg {
	int km, vm, err;
	pthread_barrier_t *bar;
};

/* Loops ATTACH of one VM on a session of its own until it works. */
struct claimer {
	pthread_t thr;
	int km, vm;
	volatile int stop;
	struct tally t;
	uint64_t got_ns;	/* when it worked */
};

struct writer {
	pthread_t thr;
	uint8_t *mem;
	volatile int stop;
	unsigned long passes;
};

struct opener {
	pthread_t thr;
	int vm;
	volatile int stop;
	unsigned long opened, attached, refused;
	int bad;
};

struct slab {
	char name[64];
	long active, objsize, perslab;
};

#define KMEMLEAK "/sys/kernel/debug/kmemleak"

/* ---- modfuzz_env.c (helpers) --------------------------------------------- */

int xioctl(int fd, unsigned long req, void *arg);
int mod_unload(void);
int mod_load(void);
bool mod_loaded(void);
int ensure_loaded(void);
long refcnt(void);
int session_count(void);
int harvest(int km, uint64_t *gfns, uint32_t max, uint32_t *count,
	    uint32_t *flags);
int send_gfns(int km, const uint64_t *gfns, uint32_t n, uint32_t flags,
	      struct kmigrate_send *out);
int set_bw(int km, uint64_t bps);
int get_state(int km, struct kmigrate_stats *st);
int vm_stop(struct dp_vm *v, int km);
int rig_open(struct rig *g, uint32_t ring, int vcpus, bool run, size_t cap);
int rig_close(struct rig *g);
void tally(struct tally *t, int err);
unsigned long tally_of(const struct tally *t, int err);
bool tally_only(const struct tally *t, const int *allowed, int n,
		int *bad);
int worker_start(struct worker *w, int km, int op, const uint64_t *gfns,
		 uint32_t n, uint32_t flags);
int worker_wait_fail(struct worker *w);
int worker_stop(struct worker *w);
void gfn_list(uint64_t *g, uint32_t n, uint64_t seed);

/* ---- modfuzz_model.c (the fuzzer's model) -------------------------------- */

bool fz_failed(struct fz *z);
void __attribute__((format(printf, 2, 3)))
fz_mismatch(struct fz *z, const char *fmt, ...);
void fz_expect(struct fz *z, const char *what, int want, int got);
void *fz_watchdog(void *arg);
bool live(int state);
struct fz_sess *fz_pick(struct fz *z, bool open);
void *fz_badptr(struct fz *z);
uint64_t fz_gfn(struct fz *z, int vm, bool *valid);
bool fz_gfn_valid(struct fz *z, int vm, uint64_t g);
int fz_setup(struct fz *z, char *err, size_t errlen);
void fz_teardown(struct fz *z);
int fz_pick_op(struct fz *z);

/* ---- modfuzz_fuzz.c (the fuzzer's operations) ---------------------------- */

void fz_open(struct fz *z);
void fz_close(struct fz *z);
void fz_attach(struct fz *z, struct fz_sess *s);
void fz_detach(struct fz *z, struct fz_sess *s);
void fz_bind(struct fz *z, struct fz_sess *s);
void fz_round(struct fz *z, struct fz_sess *s);
void fz_harvest(struct fz *z, struct fz_sess *s);
void fz_send(struct fz *z, struct fz_sess *s);
void fz_end(struct fz *z, struct fz_sess *s);
void fz_bw(struct fz *z, struct fz_sess *s);
void fz_stats(struct fz *z, struct fz_sess *s);
void fz_version(struct fz *z, struct fz_sess *s);
void fz_raw(struct fz *z, struct fz_sess *s);
void fz_genl(struct fz *z);
void fz_slot(struct fz *z);
void fz_write(struct fz *z);
void fz_fork(struct fz *z, struct fz_sess *s);

/* ---- modfuzz_race.c (race threads) --------------------------------------- */

void *attach_thread(void *p);
void *claimer_thread(void *p);
void *writer_thread(void *p);
int check_framing(const uint8_t *buf, size_t len, char *why, size_t wl);
void *opener_thread(void *p);

/* ---- modfuzz_loops.c (load/unload loops) --------------------------------- */

int read_slabs(struct slab *s, int max);
long unreclaimable_kb(void);
bool kmemleak_cmd(const char *cmd);
int one_loop(int vmfd, int tx, struct kmt_nl *nl, const uint64_t *gfns,
	     char *why, size_t wl);

#endif /* MODFUZZ_H */
