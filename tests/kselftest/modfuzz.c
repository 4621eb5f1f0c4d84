// SPDX-License-Identifier: GPL-2.0
/*
 * modfuzz: fuzz and race the interfaces of kmigrate.ko (issue 13, point 4).
 *
 * Runs as root inside a lab host with /dev/kvm and kmigrate.ko loaded (as
 * the other kselftests; run.sh runs it with the short defaults), and must
 * leave the module loaded.  Tests, in order:
 *
 *   fuzz             seeded random and hostile calls on /dev/kmigrate and
 *                    the generic netlink family, checked against a model
 *                    of each session (the errno the uapi header promises)
 *                    with real VMs (one with a dirty ring and a running
 *                    guest, one without), real TCP connections with
 *                    readers, and wrong file descriptors of every kind
 *   race_*           threads: the VM fd, the socket or the session closed
 *                    while HARVEST and SEND_PAGES run; ATTACH of one VM on
 *                    two files at once; guest and host writing the pages
 *                    being sent; rmmod while sessions are open (refused)
 *                    and against opens
 *   load_loops       insmod, open, attach, bind, round, harvest, send,
 *                    close, rmmod, N times: unload refused while a session
 *                    is open; no growth of the slab caches or of
 *                    unreclaimable memory; kmemleak, when the kernel has
 *                    it, reports nothing allocated by this program
 *
 * Options (the harness of Linux 6.1 ignores the command line; these are
 * taken out before it runs):
 *   --seed N         the fuzzer's seed (default: from the clock; printed)
 *   --seconds S      fuzz for S seconds (default 20)
 *   --iterations N   stop the fuzzer after N calls (default: no limit)
 *   --races N        run each race N times (default 1)
 *   --loops N        load/unload loops (default 50)
 *   --ko PATH        kmigrate.ko (default: $KMIGRATE_KO, else
 *                    ../kmigrate.ko next to this program's directory)
 * The same from the environment: MODFUZZ_SEED, MODFUZZ_SECONDS,
 * MODFUZZ_ITERATIONS, MODFUZZ_RACES, MODFUZZ_LOOPS.
 *
 * This file is the harness's: the fixture, every test and main().  The
 * kselftest harness keeps its test list in statics of its header (and
 * defines a global there), so it is included by one file only and every
 * TEST_F lives here; what the tests call is in modfuzz_*.c (modfuzz.h).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <netlink/genl/ctrl.h>
#include <linux/netlink.h>

#include "kselftest_harness.h"
#include "kmtest.h"
#include "dp_vm.h"
#include "modfuzz.h"

static void tally_log(struct __test_metadata *_metadata, const char *what,
		      const struct tally *t)
{
	char buf[256];
	size_t o = 0;
	int i;

	for (i = 0; i < MAX_ERRS && t->cnt[i]; i++)
		o += snprintf(buf + o, sizeof(buf) - o, " %s x%lu",
			      t->err[i] ? strerror(-t->err[i]) : "ok", t->cnt[i]);
	if (!o)
		snprintf(buf, sizeof(buf), " (none)");
	TH_LOG("%s:%s", what, buf);
}

FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
	self->unused = 0;
	ASSERT_EQ(0, ensure_loaded()) {
		TH_LOG("load %s", opt_ko);
	}
}

FIXTURE_TEARDOWN(slow)
{
}

/* Timeouts are set from the options in main(). */
TEST_F_TIMEOUT(slow, fuzz, 600)
{
	static struct fz z;
	uint64_t end = dp_now_ns() + (uint64_t)opt_seconds * 1000000000ull;
	char err[200] = "";
	struct kmt_nl nl;
	pthread_t wd;
	int e, i;

	TH_LOG("seed %llu, %ld s, %ld calls at most (0: no limit; --seed %llu reproduces)",
	       (unsigned long long)opt_seed, opt_seconds, opt_iterations,
	       (unsigned long long)opt_seed);
	e = fz_setup(&z, err, sizeof(err));
	ASSERT_EQ(0, e) {
		TH_LOG("setup: %s", err);
	}
	ASSERT_EQ(0, pthread_create(&wd, NULL, fz_watchdog, &z));
	pthread_detach(wd);

	while (!fz_failed(&z) && dp_now_ns() < end &&
	       (!opt_iterations || z.calls < (unsigned long)opt_iterations)) {
		int op = fz_pick_op(&z);
		struct fz_sess *s = NULL;

		if (op != OP_OPEN && op != OP_CLOSE && op != OP_GENL &&
		    op != OP_SLOT && op != OP_WRITE) {
			s = fz_pick(&z, true);
			if (!s) {
				op = OP_OPEN;
			}
		}
		z.cur_iter = z.calls;
		z.cur_op = op;
		z.cur_since = dp_now_ns();
		z.by_op[op]++;
		switch (op) {
		case OP_OPEN: fz_open(&z); break;
		case OP_CLOSE: fz_close(&z); break;
		case OP_ATTACH: fz_attach(&z, s); break;
		case OP_DETACH: fz_detach(&z, s); break;
		case OP_BIND: fz_bind(&z, s); break;
		case OP_ROUND: fz_round(&z, s); break;
		case OP_HARVEST: fz_harvest(&z, s); break;
		case OP_SEND: fz_send(&z, s); break;
		case OP_END: fz_end(&z, s); break;
		case OP_BW: fz_bw(&z, s); break;
		case OP_STATS: fz_stats(&z, s); break;
		case OP_VERSION: fz_version(&z, s); break;
		case OP_RAW: fz_raw(&z, s); break;
		case OP_GENL: fz_genl(&z); break;
		case OP_SLOT: fz_slot(&z); break;
		case OP_WRITE: fz_write(&z); break;
		case OP_FORK: fz_fork(&z, s); break;
		}
		z.cur_since = 0;
		z.calls++;
	}
	EXPECT_FALSE(fz_failed(&z)) {
		TH_LOG("%s", z.fail);
	}
	{
		char line[600];
		size_t o = 0;

		for (i = 0; i < OP_NR; i++)
			o += snprintf(line + o, sizeof(line) - o, " %s %lu;",
				      fz_op_names[i], z.by_op[i]);
		TH_LOG("%lu calls (seed %llu):%s genl %lu messages, %lu accepted",
		       z.calls, (unsigned long long)opt_seed, line, z.genl_msgs, z.genl_ok);
	}
	/* The limits back to their defaults, the sessions gone. */
	ASSERT_EQ(0, kmt_nl_open(&nl));
	EXPECT_EQ(0, kmt_reset_config(&nl));
	kmt_nl_close(&nl);
	fz_teardown(&z);
	EXPECT_EQ(0, session_count());
}

/* ========================================================================
 * Races
 * ======================================================================== */

static const int ok_only[] = { 0 };

/* The VM fd closed while HARVEST and SEND_PAGES run: the session holds the
 * VM, both go on working; the VM goes when the session lets it go. */
TEST_F_TIMEOUT(slow, race_vm_fd_closed, 600)
{
	static uint64_t gfns[512];
	struct worker h, s;
	struct rig g;
	int it, bad;

	for (it = 0; it < opt_races; it++) {
		ASSERT_EQ(0, rig_open(&g, 1024, 1, true, 0)) {
			TH_LOG("%s", g.err);
		}
		gfn_list(gfns, 512, opt_seed + it);
		ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
		ASSERT_EQ(0, worker_start(&s, g.km, KMIGRATE_SEND_PAGES, gfns, 512,
					  it & 1 ? KMIGRATE_SEND_F_DIGEST_PAGES : 0));
		usleep(20000 + (it * 37 % 200) * 1000);
		ASSERT_EQ(0, close(g.vm.vm));
		g.vm.vm = -1;
		usleep(200000);
		ASSERT_EQ(0, worker_stop(&h));
		ASSERT_EQ(0, worker_stop(&s));
		EXPECT_TRUE(tally_only(&h.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "harvest", &h.t);
		}
		EXPECT_TRUE(tally_only(&s.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "send", &s.t);
		}
		EXPECT_LT(0, s.calls);
		/* still working after the close */
		EXPECT_EQ(0, harvest(g.km, (uint64_t *)gfns, 512, NULL, NULL));
		gfn_list(gfns, 512, opt_seed + it);
		EXPECT_EQ(0, send_gfns(g.km, gfns, 512, 0, NULL));
		/* the guest is stopped through the session, which holds the VM */
		EXPECT_EQ(0, vm_stop(&g.vm, g.km));
		ASSERT_EQ(0, rig_close(&g)) {
			TH_LOG("the guest did not stop");
		}
	}
	EXPECT_EQ(0, session_count());
}

/* The socket closed by us (the session holds it: sends go on), shut down
 * (sends fail, the session is FAILED), or closed by the peer, while a
 * send and a harvest run; with and without a cap. */
TEST_F_TIMEOUT(slow, race_socket_closed, 600)
{
	static uint64_t gfns[1024];
	static const int after_break[] = { 0, -EPIPE, -ECONNRESET, -EBADFD };
	static const int harvest_ok[] = { 0, -EBADFD };
	struct kmigrate_stats st;
	struct worker h, s;
	struct rig g;
	int it, v, bad;

	for (it = 0; it < opt_races; it++) {
		for (v = 0; v < 4; v++) {
			ASSERT_EQ(0, rig_open(&g, 1024, 1, true, 0)) {
				TH_LOG("%s", g.err);
			}
			if (v == 3) {
				ASSERT_EQ(0, set_bw(g.km, 4 << 20));
			}
			gfn_list(gfns, 1024, opt_seed + it * 4 + v);
			ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
			ASSERT_EQ(0, worker_start(&s, g.km, KMIGRATE_SEND_PAGES, gfns,
						  1024, 0));
			usleep(30000 + (it * 53 % 150) * 1000);
			switch (v) {
			case 0:		/* our fd: the session's reference stays */
				ASSERT_EQ(0, close(g.tx));
				g.tx = -1;
				break;
			case 1:
			case 3:
				ASSERT_EQ(0, shutdown(g.tx, SHUT_RDWR));
				break;
			case 2:		/* the peer goes */
				dp_reader_stop(&g.rd);
				g.reading = false;
				close(g.rx);
				g.rx = -1;
				break;
			}
			usleep(300000);
			if (v) {	/* the sends notice */
				EXPECT_NE(0, worker_wait_fail(&s));
			}
			ASSERT_EQ(0, worker_stop(&s)) {
				TH_LOG("variant %d: a send did not return", v);
			}
			ASSERT_EQ(0, worker_stop(&h));
			EXPECT_TRUE(tally_only(&h.t, harvest_ok, 2, &bad)) {
				tally_log(_metadata, "harvest", &h.t);
			}
			ASSERT_EQ(0, get_state(g.km, &st));
			if (v == 0) {
				EXPECT_TRUE(tally_only(&s.t, ok_only, 1, &bad)) {
					tally_log(_metadata, "send (our fd closed)", &s.t);
				}
				EXPECT_EQ(KMIGRATE_SESSION_RUNNING, st.state);
			} else {
				EXPECT_TRUE(tally_only(&s.t, after_break, 4, &bad)) {
					TH_LOG("variant %d: unexpected %s", v, strerror(-bad));
					tally_log(_metadata, "send", &s.t);
				}
				/* peer gone: RST or not yet noticed; shut down: EPIPE */
				if (v != 2 || st.state == KMIGRATE_SESSION_FAILED) {
					EXPECT_EQ(KMIGRATE_SESSION_FAILED, st.state);
					EXPECT_TRUE(st.error == EPIPE || st.error == ECONNRESET) {
						TH_LOG("variant %d: error %u", v, st.error);
					}
					EXPECT_EQ(-EBADFD, send_gfns(g.km, gfns, 1, 0, NULL));
				}
			}
			ASSERT_EQ(0, rig_close(&g)) {
				TH_LOG("the guest did not stop");
			}
		}
	}
	EXPECT_EQ(0, session_count());
}

/* The session closed (or replaced by dup2) while HARVEST and SEND_PAGES
 * run: calls in flight finish, later ones see EBADF (ENOTTY on the file
 * put in its place); the session goes, the VM can be attached again. */
TEST_F_TIMEOUT(slow, race_session_closed, 600)
{
	static uint64_t gfns[1024];
	static const int after[] = { 0, -EBADF, -ENOTTY };
	struct worker h, s;
	struct rig g;
	int it, v, bad, base, null, n;

	base = session_count();
	ASSERT_LE(0, base);
	for (it = 0; it < opt_races; it++) {
		for (v = 0; v < 2; v++) {
			ASSERT_EQ(0, rig_open(&g, 1024, 1, true, 0)) {
				TH_LOG("%s", g.err);
			}
			gfn_list(gfns, 1024, opt_seed + it * 2 + v);
			ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
			ASSERT_EQ(0, worker_start(&s, g.km, KMIGRATE_SEND_PAGES, gfns,
						  1024, KMIGRATE_SEND_F_DIGEST_PAGES));
			usleep(30000 + (it * 71 % 150) * 1000);
			if (v == 0) {
				ASSERT_EQ(0, close(g.km));
			} else {
				null = open("/dev/null", O_RDWR | O_CLOEXEC);
				ASSERT_LE(0, null);
				ASSERT_EQ(g.km, dup2(null, g.km));
				close(null);
			}
			EXPECT_EQ(v ? -ENOTTY : -EBADF, worker_wait_fail(&s));
			EXPECT_EQ(v ? -ENOTTY : -EBADF, worker_wait_fail(&h));
			ASSERT_EQ(0, worker_stop(&s));
			ASSERT_EQ(0, worker_stop(&h));
			EXPECT_TRUE(tally_only(&h.t, after, 3, &bad)) {
				tally_log(_metadata, "harvest", &h.t);
			}
			EXPECT_TRUE(tally_only(&s.t, after, 3, &bad)) {
				tally_log(_metadata, "send", &s.t);
			}
			EXPECT_LT(0, tally_of(&s.t, v ? -ENOTTY : -EBADF));
			if (v == 1)
				close(g.km);
			g.km = -1;
			/* released: counted out at once */
			n = session_count();
			EXPECT_EQ(base, n);
			/* the VM is free again: stopped through a new session */
			EXPECT_EQ(0, vm_stop(&g.vm, -1));
			ASSERT_EQ(0, rig_close(&g)) {
				TH_LOG("the guest did not stop");
			}
		}
	}
}

/*
 * ATTACH of one VM on two files at once: one gets it, the other -EBUSY (a
 * VM's dirty rings have one collector; two sessions harvesting one VM made
 * KVM's reset run past its pushed entries: WARN in kvm_dirty_ring_push()
 * and a vCPU stuck on a ring that counts as full for ever).  The loser
 * keeps trying while the winner harvests and sends, and gets the VM once
 * the winner lets go; one file from two threads: one gets it.
 */
TEST_F_TIMEOUT(slow, race_attach_two_files, 600)
{
	static const int busy_only[] = { -EBUSY };
	static uint64_t gfns[256];
	struct attach_arg a[2];
	pthread_barrier_t bar;
	pthread_t t[2];
	struct worker h, s;
	struct claimer c;
	struct kmigrate_bind b = { 0 };
	struct kmigrate_round r = { 0 };
	struct dp_vm vm;
	struct dp_reader rd;
	uint64_t t_detach;
	int km[2], tx, rx, it, i, win, bad;

	ASSERT_EQ(0, dp_vm_create(&vm, 1024, 2)) {
		TH_LOG("%s", vm.err);
	}
	ASSERT_EQ(0, dp_vm_start(&vm));
	ASSERT_EQ(0, dp_tcp_pair(&tx, &rx));
	ASSERT_EQ(0, dp_reader_start(&rd, rx, 0));
	ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, 2));
	for (it = 0; it < opt_races; it++) {
		/* two files */
		for (i = 0; i < 2; i++) {
			km[i] = kmt_open(O_RDWR);
			ASSERT_LE(0, km[i]);
			a[i] = (struct attach_arg){ .km = km[i], .vm = vm.vm, .bar = &bar };
			ASSERT_EQ(0, pthread_create(&t[i], NULL, attach_thread, &a[i]));
		}
		for (i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		ASSERT_TRUE((a[0].err == 0 && a[1].err == -EBUSY) ||
			    (a[1].err == 0 && a[0].err == -EBUSY)) {
			TH_LOG("two files, one VM: %d and %d", a[0].err, a[1].err);
		}
		win = a[0].err ? 1 : 0;
		b.sock_fd = tx;
		ASSERT_EQ(0, xioctl(km[win], KMIGRATE_BIND_SOCKET, &b));
		ASSERT_EQ(0, xioctl(km[win], KMIGRATE_ROUND, &r));
		gfn_list(gfns, 256, opt_seed + it);
		c = (struct claimer){ .km = km[!win], .vm = vm.vm };
		ASSERT_EQ(0, pthread_create(&c.thr, NULL, claimer_thread, &c));
		ASSERT_EQ(0, worker_start(&h, km[win], KMIGRATE_HARVEST, NULL, 0, 0));
		ASSERT_EQ(0, worker_start(&s, km[win], KMIGRATE_SEND_PAGES, gfns, 256, 0));
		usleep(200000);
		ASSERT_EQ(0, worker_stop(&h));
		ASSERT_EQ(0, worker_stop(&s));
		EXPECT_TRUE(tally_only(&h.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "harvest", &h.t);
		}
		EXPECT_TRUE(tally_only(&s.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "send", &s.t);
		}
		/* the winner lets go (DETACH, or close): the loser gets it */
		t_detach = dp_now_ns();
		if (it & 1) {
			EXPECT_EQ(0, close(km[win]));
		} else {
			EXPECT_EQ(0, xioctl(km[win], KMIGRATE_DETACH_VM, NULL));
		}
		for (i = 0; i < 5000 && !__atomic_load_n(&c.got_ns, __ATOMIC_ACQUIRE); i++)
			usleep(1000);
		__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
		pthread_join(c.thr, NULL);
		EXPECT_LT(t_detach, c.got_ns) {
			tally_log(_metadata, "the loser's ATTACHes", &c.t);
		}
		EXPECT_EQ(1, tally_of(&c.t, 0));
		/* EBUSY until then, nothing else */
		{
			struct tally rest = c.t;
			int k;

			for (k = 0; k < MAX_ERRS; k++)
				if (rest.cnt[k] && rest.err[k] == 0)
					rest.err[k] = -EBUSY;
			EXPECT_TRUE(tally_only(&rest, busy_only, 1, &bad)) {
				tally_log(_metadata, "the loser's ATTACHes", &c.t);
			}
		}
		/* the new holder collects the rings (the guest's vCPUs wait) */
		EXPECT_EQ(0, harvest(km[!win], (uint64_t *)gfns, 256, NULL, NULL));
		if (!(it & 1))
			close(km[win]);
		close(km[!win]);

		/* one file, two threads */
		km[0] = kmt_open(O_RDWR);
		ASSERT_LE(0, km[0]);
		for (i = 0; i < 2; i++) {
			a[i] = (struct attach_arg){ .km = km[0], .vm = vm.vm, .bar = &bar };
			ASSERT_EQ(0, pthread_create(&t[i], NULL, attach_thread, &a[i]));
		}
		for (i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		EXPECT_TRUE((a[0].err == 0 && a[1].err == -EBUSY) ||
			    (a[1].err == 0 && a[0].err == -EBUSY)) {
			TH_LOG("one file, two ATTACHes: %d and %d", a[0].err, a[1].err);
		}
		close(km[0]);
	}
	/* The guest still runs: its rings are sound. */
	EXPECT_EQ(0, vm_stop(&vm, -1));
	dp_reader_stop(&rd);
	close(tx);
	close(rx);
	dp_reader_free(&rd);
	dp_vm_destroy(&vm);
	pthread_barrier_destroy(&bar);
}


/* A guest that keeps writing the pages being sent, and a host thread
 * writing them through the mapping: every send succeeds, the stream is
 * whole records, as many bytes as the sends said. */
TEST_F_TIMEOUT(slow, race_writers_while_sending, 600)
{
	static uint64_t gfns[KMIGRATE_BATCH_MAX];
	const size_t cap = 48u << 20;
	struct writer w = { 0 };
	struct worker h;
	struct rig g;
	uint64_t bytes = 0, t_end;
	unsigned long sends = 0;
	char why[200];
	int it, err, bad;

	for (it = 0; it < opt_races; it++) {
		ASSERT_EQ(0, rig_open(&g, 1024, 2, true, cap)) {
			TH_LOG("%s", g.err);
		}
		w.mem = g.vm.mem;
		w.stop = 0;
		ASSERT_EQ(0, pthread_create(&w.thr, NULL, writer_thread, &w));
		ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
		gfn_list(gfns, KMIGRATE_BATCH_MAX, opt_seed + it);
		bytes = 0;
		t_end = dp_now_ns() + 1500000000ull;
		while (dp_now_ns() < t_end && bytes < cap - (20u << 20)) {
			struct kmigrate_send s;
			uint32_t n = 64 + (sends * 977) % (KMIGRATE_BATCH_MAX - 64);

			err = send_gfns(g.km, gfns, n,
					sends & 1 ? KMIGRATE_SEND_F_DIGEST_PAGES : 0, &s);
			ASSERT_EQ(0, err) {
				TH_LOG("send %lu: %s", sends, strerror(-err));
			}
			EXPECT_EQ(n, s.pages + s.zero_pages);
			bytes += s.bytes;
			sends++;
		}
		__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
		pthread_join(w.thr, NULL);
		ASSERT_EQ(0, worker_stop(&h));
		EXPECT_TRUE(tally_only(&h.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "harvest", &h.t);
		}
		EXPECT_LT(0, tally_of(&h.t, 0));
		EXPECT_EQ(0, dp_reader_wait(&g.rd, bytes, 30000)) {
			TH_LOG("read %zu of %llu bytes", dp_reader_len(&g.rd),
			       (unsigned long long)bytes);
		}
		EXPECT_EQ(bytes, dp_reader_len(&g.rd));
		EXPECT_EQ(0, check_framing(g.rd.buf, dp_reader_len(&g.rd), why, sizeof(why))) {
			TH_LOG("%s", why);
		}
		TH_LOG("%lu sends, %llu bytes, %lu host writes, guest at iteration %llu",
		       sends, (unsigned long long)bytes, w.passes,
		       (unsigned long long)dp_vm_iter(&g.vm, 0));
		ASSERT_EQ(0, rig_close(&g)) {
			TH_LOG("the guest did not stop");
		}
	}
}

/* rmmod while sessions are open, one of them sending: refused (-EAGAIN,
 * O_NONBLOCK as rmmod asks), the module stays; after the last close it
 * goes, and comes back. */
TEST_F_TIMEOUT(slow, race_rmmod_with_sessions, 600)
{
	static uint64_t gfns[512];
	struct worker s, h;
	struct rig g;
	int it, k, idle;

	for (it = 0; it < opt_races; it++) {
		ASSERT_EQ(0, rig_open(&g, 1024, 1, true, 0)) {
			TH_LOG("%s", g.err);
		}
		idle = kmt_open(O_RDWR);
		ASSERT_LE(0, idle);
		gfn_list(gfns, 512, opt_seed + it);
		ASSERT_EQ(0, worker_start(&s, g.km, KMIGRATE_SEND_PAGES, gfns, 512, 0));
		ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
		EXPECT_LE(2, refcnt());
		for (k = 0; k < 10; k++) {
			EXPECT_EQ(-EAGAIN, mod_unload());
			usleep(10000);
		}
		ASSERT_EQ(0, worker_stop(&s));
		ASSERT_EQ(0, worker_stop(&h));
		EXPECT_TRUE(mod_loaded());
		EXPECT_LT(0, tally_of(&s.t, 0));
		EXPECT_EQ(0, vm_stop(&g.vm, g.km));
		ASSERT_EQ(0, rig_close(&g)) {
			TH_LOG("the guest did not stop");
		}
		/* one idle session left: still refused */
		EXPECT_EQ(-EAGAIN, mod_unload());
		close(idle);
		EXPECT_EQ(0, mod_unload());
		EXPECT_FALSE(mod_loaded());
		EXPECT_NE(0, access(KMT_DEV_PATH, F_OK));
		ASSERT_EQ(0, mod_load());
	}
}


/* rmmod and insmod against a thread that opens, attaches and closes: each
 * unload either works (no file open) or is refused; an open either gets a
 * working session or finds no device. */
TEST_F_TIMEOUT(slow, race_rmmod_against_open, 600)
{
	struct opener o = { 0 };
	struct dp_vm vm;
	unsigned long unloaded = 0, refused = 0;
	uint64_t end;
	int it, err;

	ASSERT_EQ(0, dp_vm_create(&vm, 1024, 1)) {
		TH_LOG("%s", vm.err);
	}
	o.vm = vm.vm;
	ASSERT_EQ(0, pthread_create(&o.thr, NULL, opener_thread, &o));
	for (it = 0; it < opt_races; it++) {
		end = dp_now_ns() + 2000000000ull;
		while (dp_now_ns() < end) {
			err = mod_unload();
			if (!err) {
				unloaded++;
				usleep(2000);
				/* EEXIST: an open asked the kernel to load it
				 * (char-major-10-250) first */
				do {
					err = mod_load();
				} while (err == -EBUSY);
				ASSERT_TRUE(!err || err == -EEXIST) {
					TH_LOG("insmod: %s", strerror(-err));
				}
			} else {
				/* EBUSY: being loaded by the kernel just then */
				ASSERT_TRUE(err == -EAGAIN || err == -EBUSY) {
					TH_LOG("rmmod: %s", strerror(-err));
				}
				refused++;
			}
			usleep(1000);
		}
	}
	__atomic_store_n(&o.stop, 1, __ATOMIC_RELEASE);
	pthread_join(o.thr, NULL);
	ASSERT_EQ(0, ensure_loaded());
	TH_LOG("rmmod: %lu unloaded, %lu refused; opens: %lu (%lu attached), %lu without a device",
	       unloaded, refused, o.opened, o.attached, o.refused);
	EXPECT_EQ(0, o.bad) {
		TH_LOG("opener: %s", strerror(-o.bad));
	}
	EXPECT_LT(0, o.attached);
	dp_vm_destroy(&vm);
}

/* ========================================================================
 * Load and unload with sessions, and leaks
 * ======================================================================== */

/* Objects kmemleak reports that this process allocated; -1 without it. */
static int kmemleak_ours(struct __test_metadata *_metadata)
{
	char line[512], comm[32];
	int n = 0, printed = 0;
	FILE *f;

	if (!kmemleak_cmd("scan"))
		return -1;
	f = fopen(KMEMLEAK, "re");
	if (!f)
		return -1;
	snprintf(comm, sizeof(comm), "pid %d,", getpid());
	while (fgets(line, sizeof(line), f)) {
		bool ours = strstr(line, comm) || strstr(line, "kmigrate");

		if (ours && strstr(line, "comm "))
			n++;
		if ((ours || (printed && printed < 40)) && printed < 40) {
			TH_LOG("kmemleak: %s", line);
			printed++;
		}
	}
	fclose(f);
	return n;
}


TEST_F_TIMEOUT(slow, load_loops, 600)
{
	static struct slab before[512], after[512];
	static uint64_t gfns[64];
	struct dp_reader rd;
	struct kmt_nl nl;
	struct dp_vm vm;
	char why[200] = "";
	long mem0, mem1;
	int i, k, nb, na, err, leaks = 0, tx, rx, km;
	bool kmemleak;

	ASSERT_EQ(0, dp_vm_create(&vm, 1024, 1)) {
		TH_LOG("%s", vm.err);
	}
	for (i = 0; i < 64; i++) {
		gfns[i] = DP_STAMP_FIRST + i;
		memset(vm.mem + gfns[i] * DP_PAGE_SIZE, i & 1 ? 0 : i, DP_PAGE_SIZE);
	}
	/* one connection and one netlink socket for every loop: sockets that
	 * linger (TIME_WAIT, RCU) would look like a leak */
	ASSERT_EQ(0, dp_tcp_pair(&tx, &rx));
	ASSERT_EQ(0, dp_reader_start(&rd, rx, 0));
	ASSERT_EQ(0, kmt_nl_open(&nl));
	ASSERT_EQ(0, mod_unload()) {
		TH_LOG("rmmod before the loops: is a session open?");
	}
	/* two loops to warm the caches, then the baseline */
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, one_loop(vm.vm, tx, &nl, gfns, why, sizeof(why))) {
			TH_LOG("warm-up: %s", why);
		}
	}
	kmemleak = kmemleak_cmd("clear");
	usleep(200000);
	nb = read_slabs(before, 512);
	mem0 = unreclaimable_kb();
	for (i = 0; i < opt_loops; i++) {
		err = one_loop(vm.vm, tx, &nl, gfns, why, sizeof(why));
		if (err) {
			ASSERT_EQ(0, err) {
				TH_LOG("loop %d of %d: %s", i + 1, opt_loops, why);
			}
		}
	}
	usleep(500000);	/* RCU-deferred frees */
	na = read_slabs(after, 512);
	mem1 = unreclaimable_kb();
	TH_LOG("%d loops: unreclaimable slab + vmalloc %ld kB -> %ld kB, kmemleak %s",
	       opt_loops, mem0, mem1, kmemleak ? "on" : "not in this kernel");
	/* A session's data path is ~150 kB: a leak of it per loop is MBs. */
	EXPECT_LT(mem1 - mem0, 4096 + opt_loops * 8L);
	/* A cache that grew by an object per loop, beyond per-CPU slack. */
	for (i = 0; i < na && nb > 0; i++) {
		for (k = 0; k < nb; k++)
			if (!strcmp(after[i].name, before[k].name))
				break;
		if (k == nb)
			continue;
		if (after[i].active - before[k].active >= opt_loops &&
		    after[i].active - before[k].active > 4 * after[i].perslab * 2 + 16) {
			TH_LOG("slab %s: %ld -> %ld objects of %ld bytes over %d loops",
			       after[i].name, before[k].active, after[i].active,
			       after[i].objsize, opt_loops);
			leaks++;
		}
	}
	EXPECT_EQ(0, leaks);
	if (kmemleak) {
		EXPECT_EQ(0, kmemleak_ours(_metadata));
	}

	/* leave it loaded, as found */
	ASSERT_EQ(0, mod_load());
	km = kmt_open(O_RDWR);
	EXPECT_LE(0, km);
	EXPECT_EQ(-EAGAIN, mod_unload());
	close(km);
	kmt_nl_close(&nl);
	dp_reader_stop(&rd);
	close(tx);
	close(rx);
	dp_reader_free(&rd);
	dp_vm_destroy(&vm);
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	int err;

	err = modfuzz_options(argc, argv);
	if (err)
		return err;

	/* The harness's timeouts, from the options. */
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next) {
			if (!strcmp(t->name, "fuzz"))
				t->timeout = opt_seconds + 300;
			else if (!strcmp(t->name, "load_loops"))
				t->timeout = 120 + opt_loops * 3;
			else
				t->timeout = 120 + opt_races * 60;
		}
	return test_harness_run(argc, argv);
}
