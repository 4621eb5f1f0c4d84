// SPDX-License-Identifier: GPL-2.0
/*
 * announce_test: announce-self of libvmm (tools/vmm/announce.c) through
 * real taps, seen on the bridge they are attached to.  Run inside a
 * network namespace (tests/host/announce_test.sh makes it):
 *
 *   announce_test BRIDGE TAP0 TAP1
 *
 * TAP0 and TAP1 exist and are ports of BRIDGE; an AF_PACKET socket on the
 * bridge captures.  Part 1, no KVM needed: the announce job on the two
 * taps opened here as libvmm's virtio-net opens them (vnet header of 12
 * bytes).  Part 2, where /dev/kvm works: a VM (not started: announcing
 * needs no vCPU) with a NIC on BRIDGE (a tap libvmm creates, km-ann-0)
 * and one on TAP1, through vmm_announce_start.  Each part checks: start
 * returns at once; each MAC sends 5 RARPs (ethertype 0x8035, broadcast,
 * reverse request, its MAC as source and target) and 5 neighbour
 * advertisements, the rounds at 0/50/150/300/500 ms (never early, by the
 * kernel's arrival times on the bridge); the
 * bridge learned each MAC on its port; the stats; a stop (part 2: the
 * VM's destroy) after round 2 ends the rounds: no frame of a later round
 * arrives.  TAP output.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "announce.h"
#include "vmm.h"

#define ROUNDS	5

static uint8_t mac0[6], mac1[6];	/* the part's two MACs */
static const unsigned int offs[ROUNDS] = { 0, 50, 150, 300, 500 };
static int test_no, failures;

static bool tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
	return ok;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);	/* as the packets' timestamps */
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct seen {
	unsigned int rarp, na, bad;
	uint64_t rarp_at[ROUNDS + 4];
};

/* One captured frame: is it one of ours, and well formed? */
static void classify(const uint8_t *f, ssize_t len, uint64_t at, struct seen *s0, struct seen *s1)
{
	struct seen *s = !memcmp(f + 6, mac0, 6) ? s0 : !memcmp(f + 6, mac1, 6) ? s1 : NULL;
	const uint8_t *mac = s == s0 ? mac0 : mac1;
	unsigned int type;

	if (!s || len < 60)
		return;
	type = (unsigned int)(f[12] << 8 | f[13]);
	if (type == 0x8035) {
		bool ok = !memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) &&
			  !memcmp(f + 14, "\x00\x01\x08\x00\x06\x04\x00\x03", 8) &&
			  !memcmp(f + 22, mac, 6) && !memcmp(f + 32, mac, 6);

		if (!ok)
			s->bad++;
		else if (s->rarp < ROUNDS + 4)
			s->rarp_at[s->rarp++] = at;
	} else if (type == 0x86dd && len >= 86 && f[20] == 58 && f[54] == 136) {
		if (memcmp(f, "\x33\x33\x00\x00\x00\x01", 6) || memcmp(f + 80, mac, 6))
			s->bad++;
		else
			s->na++;
	}
}

/* Captures on @fd for @ms; frames of ours into s0/s1. */
static void capture(int fd, unsigned int ms, struct seen *s0, struct seen *s1)
{
	uint64_t end = now_us() + ms * 1000ull;
	uint8_t f[2048];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t len;
	uint64_t now;

	while ((now = now_us()) < end) {
		char ctl[CMSG_SPACE(sizeof(struct timespec))];
		struct iovec iov = { .iov_base = f, .iov_len = sizeof(f) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				    .msg_controllen = sizeof(ctl) };
		struct cmsghdr *c;
		uint64_t at;

		if (poll(&p, 1, (int)((end - now) / 1000) + 1) != 1)
			continue;
		len = recvmsg(fd, &m, MSG_DONTWAIT);
		at = now_us();
		/* the kernel's arrival time (SO_TIMESTAMPNS), not when read */
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			struct timespec ts;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
				continue;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			at = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
		}
		if (len > 0)
			classify(f, len, at, s0, s1);
	}
}

/* "MAC dev PORT" among `bridge fdb show br BR`'s lines. */
static bool learned(const char *br, const uint8_t *mac, const char *port)
{
	char cmd[128], want[80], line[256];
	bool found = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "bridge fdb show br %s 2>&1", br);
	snprintf(want, sizeof(want), "%02x:%02x:%02x:%02x:%02x:%02x dev %s ", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5], port);
	f = popen(cmd, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)) && !strstr(line, "permanent"))
			found = true;
	pclose(f);
	if (!found)
		printf("# no '%s' in `%s`\n", want, cmd);
	return found;
}

/*
 * Round 1 within 200 ms of the start; the others, from round 1 (they are
 * due from its time: a late one does not shift the rest), never early and
 * late by a loaded machine's scheduling at most (100 ms).
 */
static bool rounds_on_time(const struct seen *s, uint64_t t0, const char *which)
{
	bool ok = s->rarp == ROUNDS && s->rarp_at[0] >= t0 && s->rarp_at[0] - t0 < 200000;
	unsigned int k;

	if (s->rarp)
		printf("# %s round 1 %.1f ms after the start\n", which,
		       (double)(s->rarp_at[0] - t0) / 1000);
	for (k = 1; ok && k < ROUNDS; k++) {
		double ms = (double)(s->rarp_at[k] - s->rarp_at[0]) / 1000;

		printf("# %s round %u at %.1f ms (due %u)\n", which, k + 1, ms, offs[k]);
		ok = ms >= offs[k] - 1 && ms <= offs[k] + 100;
	}
	return ok;
}

/* An existing tap as libvmm's virtio-net opens it; -1 (said why). */
static int open_tap(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC), hdr = 12;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) || ioctl(fd, TUNSETVNETHDRSZ, &hdr)) {
		printf("# tap %s: %s\n", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The checks of one part, once its rounds started at @t0. */
static void check_rounds(int fd, uint64_t t0, const char *br, const char *port0,
			 const char *port1)
{
	struct seen s0 = { 0 }, s1 = { 0 };

	capture(fd, 900, &s0, &s1);
	tap(s0.rarp == ROUNDS && s1.rarp == ROUNDS && !s0.bad && !s1.bad,
	    "5 RARPs per MAC on the bridge: ethertype 0x8035, broadcast, reverse request, "
	    "source and target MAC (%u and %u, %u bad)", s0.rarp, s1.rarp, s0.bad + s1.bad);
	tap(s0.na == ROUNDS && s1.na == ROUNDS,
	    "5 neighbour advertisements per MAC to 33:33:00:00:00:01 (%u and %u)", s0.na, s1.na);
	tap(rounds_on_time(&s0, t0, port0) && rounds_on_time(&s1, t0, port1),
	    "rounds at 0/50/150/300/500 ms, never early, at most 100 ms late");
	tap(learned(br, mac0, port0) && learned(br, mac1, port1),
	    "the bridge learned each MAC on its port (%s, %s)", port0, port1);
}

static void set_macs(uint8_t last0, uint8_t last1)
{
	memcpy(mac0, "\x52\x54\x00\xaa\xbb", 5);
	memcpy(mac1, mac0, 5);
	mac0[5] = last0;
	mac1[5] = last1;
}

/* Part 1: the job on two taps, no VM. */
static void part_job(int fd, const char *br, const char *tap0, const char *tap1)
{
	static const struct vmm_announce_params p = VMM_ANNOUNCE_DEFAULTS;
	struct announce_nic nics[2] = { { .hdr_len = 12 }, { .hdr_len = 12 } };
	struct seen s0 = { 0 }, s1 = { 0 }, z;
	struct vmm_announce_stats st;
	struct announce_job *j = NULL;
	uint64_t t0, took;
	int r;

	set_macs(0x01, 0x02);
	nics[0].fd = open_tap(tap0);
	nics[1].fd = open_tap(tap1);
	memcpy(nics[0].mac, mac0, 6);
	memcpy(nics[1].mac, mac1, 6);
	snprintf(nics[0].name, sizeof(nics[0].name), "%s", tap0);
	snprintf(nics[1].name, sizeof(nics[1].name), "%s", tap1);
	if (!tap(nics[0].fd >= 0 && nics[1].fd >= 0, "job: taps %s and %s opened with a vnet header",
		 tap0, tap1))
		return;
	capture(fd, 300, &z, &z);	/* what the ports' carrier brought */
	t0 = now_us();
	r = announce_job_start(&j, nics, 2, &p, stderr);
	took = now_us() - t0;
	tap(!r && took < 200000, "job: started (%d) in %llu us (the rounds take 500 ms)", r,
	    (unsigned long long)took);
	if (r)
		return;
	check_rounds(fd, t0, br, tap0, tap1);
	announce_job_stop(j, &st);
	tap(st.rounds == ROUNDS && st.frames == 4 * ROUNDS && !st.errors,
	    "job: stats %u rounds, %llu frames, %llu errors", st.rounds,
	    (unsigned long long)st.frames, (unsigned long long)st.errors);
	r = announce_job_start(&j, nics, 2, &p, stderr);
	capture(fd, 100, &s0, &s1);	/* rounds 1 and 2 (at 0 and 50 ms; 3 at 150) */
	if (!r)
		announce_job_stop(j, &st);
	/*
	 * What it sent is what arrives, within 600 ms more (rounds 3 to 5
	 * would be due by then): a frame sent just before the stop may
	 * arrive after it on a loaded machine, none may come of a later round.
	 */
	capture(fd, 600, &s0, &s1);
	tap(!r && st.rounds >= 1 && st.rounds < ROUNDS && s0.rarp == st.rounds &&
	    s1.rarp == st.rounds && s0.na == st.rounds && s1.na == st.rounds,
	    "job: again, stopped after round 2: %u rounds sent, %u and %u RARPs, %u and %u NAs "
	    "arrived, nothing more", st.rounds, s0.rarp, s1.rarp, s0.na, s1.na);
	close(nics[0].fd);
	close(nics[1].fd);
}

/* Part 2: a VM's NICs, through vmm_announce_start; false: no KVM here. */
static bool part_vm(int fd, const char *br, const char *tap1)
{
	struct vmm_config cfg = { .mem_bytes = 16ull << 20, .nr_vcpus = 1, .quiet_console = true };
	struct vmm_net_cfg n0 = { .vm_name = "ann", .index = 0, .has_mac = true, .bridge = br };
	struct vmm_net_cfg n1 = { .vm_name = "ann", .index = 1, .has_mac = true, .tap = tap1 };
	struct seen s0 = { 0 }, s1 = { 0 }, z;
	struct vmm_announce_stats st;
	struct vmm_vm *vm = NULL;
	uint64_t t0, took, gone;
	char err[256];
	int r;

	set_macs(0x03, 0x04);
	memcpy(n0.mac, mac0, 6);
	memcpy(n1.mac, mac1, 6);
	r = vmm_vm_create(&cfg, &vm);
	if (r) {
		printf("ok %d vm: # SKIP no VM here (%s): the VM's NICs need KVM\n", ++test_no,
		       strerror(-r));
		return false;
	}
	r = vmm_net_add(vm, &n0, err, sizeof(err));
	if (!r)
		r = vmm_net_add(vm, &n1, err, sizeof(err));
	if (!tap(!r, "vm: two NICs, on bridge %s (km-ann-0) and on tap %s%s%s", br, tap1,
		 r ? ": " : "", r ? err : "")) {
		vmm_vm_destroy(vm);
		return true;
	}
	capture(fd, 300, &z, &z);
	t0 = now_us();
	r = vmm_announce_start(vm, NULL);
	took = now_us() - t0;
	tap(!r && took < 200000, "vm: vmm_announce_start returned %d in %llu us (the rounds take "
	    "500 ms)", r,
	    (unsigned long long)took);
	check_rounds(fd, t0, br, "km-ann-0", tap1);
	vmm_announce_stop(vm, &st);
	tap(st.rounds == ROUNDS && st.frames == 4 * ROUNDS && !st.errors,
	    "vm: stats %u rounds, %llu frames, %llu errors", st.rounds,
	    (unsigned long long)st.frames, (unsigned long long)st.errors);
	r = vmm_announce_start(vm, NULL);
	capture(fd, 100, &s0, &s1);	/* rounds 1 and 2 (at 0 and 50 ms; 3 at 150) */
	t0 = now_us();
	vmm_vm_destroy(vm);
	gone = now_us();
	/* as above, without the job's count: both NICs' in every round sent */
	capture(fd, 600, &s0, &s1);
	tap(!r && s0.rarp >= 1 && s0.rarp < ROUNDS && s1.rarp == s0.rarp && s0.na == s0.rarp &&
	    s1.na == s0.rarp,
	    "vm: again, the VM destroyed after round 2 (in %llu ms): %u and %u RARPs, %u and %u "
	    "NAs, nothing more", (unsigned long long)(gone - t0) / 1000, s0.rarp, s1.rarp,
	    s0.na, s1.na);
	return true;
}

int main(int argc, char **argv)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd, one = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: announce_test BRIDGE TAP0 TAP1 (in a network namespace)\n");
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!tap(fd >= 0 && sll.sll_ifindex && !bind(fd, (struct sockaddr *)&sll, sizeof(sll)) &&
		 !setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)),
		 "a packet socket on bridge %s", argv[1]))
		return 1;
	part_job(fd, argv[1], argv[2], argv[3]);
	part_vm(fd, argv[1], argv[3]);
	close(fd);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
