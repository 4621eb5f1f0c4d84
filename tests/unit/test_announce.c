// SPDX-License-Identifier: GPL-2.0
/*
 * announce-self of libvmm (tools/vmm/announce.c) without KVM or root: the
 * RARP and the neighbour advertisement byte by byte (the NA's checksum
 * recomputed here over the pseudo-header), and the job on socket pairs
 * and a loopback UDP socket (the kernel stamps arrivals) standing in for
 * taps: the rounds, their frames (with and without a vnet header) and
 * spacing, a start that does not wait for the rounds, a stop in the
 * middle that ends it at once, a write that fails (counted, logged once),
 * and parameters out of range.  The real tap on a bridge, through a VM:
 * tests/host/announce_test.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "unit.h"
#include "announce.h"

KM_SUITE(announce);

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);	/* as the packets' timestamps */
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned int be16(const uint8_t *p)
{
	return (unsigned int)(p[0] << 8 | p[1]);
}

TEST_F(announce, rarp_frame)
{
	uint8_t f[ANNOUNCE_FRAME_LEN];
	static const uint8_t zero[18];

	ASSERT_EQ(60, announce_rarp(f, mac));
	EXPECT_EQ(0, memcmp(f, "\xff\xff\xff\xff\xff\xff", 6));
	EXPECT_EQ(0, memcmp(f + 6, mac, 6));
	EXPECT_EQ(0x8035, be16(f + 12));
	EXPECT_EQ(1, be16(f + 14));		/* Ethernet */
	EXPECT_EQ(0x0800, be16(f + 16));	/* IPv4 */
	EXPECT_EQ(6, f[18]);
	EXPECT_EQ(4, f[19]);
	EXPECT_EQ(3, be16(f + 20));		/* reverse request */
	EXPECT_EQ(0, memcmp(f + 22, mac, 6));	/* sender hardware */
	EXPECT_EQ(0, memcmp(f + 28, zero, 4));	/* sender IP 0.0.0.0 */
	EXPECT_EQ(0, memcmp(f + 32, mac, 6));	/* target hardware */
	EXPECT_EQ(0, memcmp(f + 38, zero, 4));	/* target IP */
	EXPECT_EQ(0, memcmp(f + 42, zero, 18));	/* padding */
}

TEST_F(announce, na_frame)
{
	static const uint8_t ll[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
					0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56 };
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
	uint8_t f[ANNOUNCE_FRAME_LEN];
	const uint8_t *ip = f + 14, *icmp = f + 54;
	uint32_t sum = 0;
	unsigned int i;

	ASSERT_EQ(86, announce_na(f, mac));
	EXPECT_EQ(0, memcmp(f, "\x33\x33\x00\x00\x00\x01", 6));
	EXPECT_EQ(0, memcmp(f + 6, mac, 6));
	EXPECT_EQ(0x86dd, be16(f + 12));
	EXPECT_EQ(0x60, ip[0]);
	EXPECT_EQ(32, be16(ip + 4));
	EXPECT_EQ(58, ip[6]);
	EXPECT_EQ(255, ip[7]);
	EXPECT_EQ(0, memcmp(ip + 8, ll, 16));	/* EUI-64: 52 ^ 02 = 50, ff:fe */
	EXPECT_EQ(0, memcmp(ip + 24, all_nodes, 16));
	EXPECT_EQ(136, icmp[0]);
	EXPECT_EQ(0, icmp[1]);
	EXPECT_EQ(0x20, icmp[4]);		/* override only */
	EXPECT_EQ(0, icmp[5] | icmp[6] | icmp[7]);
	EXPECT_EQ(0, memcmp(icmp + 8, ll, 16));
	EXPECT_EQ(2, icmp[24]);
	EXPECT_EQ(1, icmp[25]);
	EXPECT_EQ(0, memcmp(icmp + 26, mac, 6));
	/* the one's complement sum over pseudo-header and message is all ones */
	for (i = 0; i < 32; i += 2)
		sum += be16(ip + 8 + i);
	sum += 32 + 58;
	for (i = 0; i < 32; i += 2)
		sum += be16(icmp + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	EXPECT_EQ(0xffff, sum);
	EXPECT_NE(0, be16(icmp + 2));
}

/*
 * Reads the frames of @fd until @quiet_ms pass without one; their arrival
 * times (ms, CLOCK_REALTIME): the kernel's (SO_TIMESTAMPNS) where the
 * socket has them, else when read.
 */
static unsigned int collect(int fd, uint8_t (*buf)[128], ssize_t *len, uint64_t *at,
			    unsigned int max, int quiet_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	unsigned int n = 0;

	while (n < max && poll(&p, 1, quiet_ms) == 1) {
		char ctl[CMSG_SPACE(sizeof(struct timespec))];
		struct iovec iov = { .iov_base = buf[n], .iov_len = sizeof(buf[n]) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				    .msg_controllen = sizeof(ctl) };
		struct cmsghdr *c;
		struct timespec ts;

		len[n] = recvmsg(fd, &m, 0);
		clock_gettime(CLOCK_REALTIME, &ts);
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS)
				memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		at[n] = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		if (len[n] <= 0)
			break;
		n++;
	}
	return n;
}

/* A UDP socket on loopback as a tap: the kernel stamps each arrival. */
static int udp_pair(int *rx, int *tx)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int one = 1;

	*rx = socket(AF_INET, SOCK_DGRAM, 0);
	*tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (*rx < 0 || *tx < 0 || bind(*rx, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(*rx, (struct sockaddr *)&a, &al) ||
	    connect(*tx, (struct sockaddr *)&a, sizeof(a)) ||
	    setsockopt(*rx, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)))
		return -1;
	return 0;
}

TEST_F(announce, rounds_and_spacing)
{
	struct vmm_announce_params p = { .rounds = 4, .initial_ms = 40, .step_ms = 30 };
	static const unsigned int offs[4] = { 0, 40, 110, 210 };	/* 40, 70, 100 apart */
	struct announce_nic nics[2];
	struct vmm_announce_stats st;
	struct announce_job *j = NULL;
	uint8_t (*buf)[128] = calloc(32, 128);
	static const uint8_t zero[12];
	uint8_t want[ANNOUNCE_FRAME_LEN];
	int a[2], b[2];
	ssize_t len[2][16];
	uint64_t at[2][16], t0;
	unsigned int n, k;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, udp_pair(&a[1], &a[0]));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, b));
	nics[0] = (struct announce_nic){ .fd = a[0], .hdr_len = 12, .name = "t0" };
	nics[1] = (struct announce_nic){ .fd = b[0], .hdr_len = 0, .name = "t1" };
	memcpy(nics[0].mac, mac, 6);
	memcpy(nics[1].mac, "\x02\x6b\x6d\x01\x02\x03", 6);
	t0 = now_ms();
	ASSERT_EQ(0, announce_job_start(&j, nics, 2, &p, stderr));
	/* the job has its own descriptors: ours may go */
	close(a[0]);
	close(b[0]);
	n = collect(a[1], buf, len[0], at[0], 16, 600);
	ASSERT_EQ(8, n);
	EXPECT_EQ(8, collect(b[1], buf + 16, len[1], at[1], 16, 50));
	for (k = 0; k < 8; k++) {
		/* NIC 0: the vnet header, then RARP, NA, RARP, NA ... */
		EXPECT_EQ(12 + (k & 1 ? 86 : 60), len[0][k]);
		EXPECT_EQ(0, memcmp(buf[k], zero, 12));
		if (k & 1)
			announce_na(want, mac);
		else
			announce_rarp(want, mac);
		EXPECT_EQ(0, memcmp(buf[k] + 12, want, (size_t)len[0][k] - 12)) TH_LOG("frame %u", k);
		/* NIC 1: no header, its own MAC */
		EXPECT_EQ(k & 1 ? 86 : 60, len[1][k]);
		EXPECT_EQ(0, memcmp(buf[16 + k] + 6, "\x02\x6b\x6d\x01\x02\x03", 6));
	}
	/*
	 * The kernel's arrival times, from round 1: never early (the rounds
	 * are due from round 1's time, a late one does not shift the rest);
	 * late by a loaded machine's (and ASan's) scheduling at most.
	 */
	EXPECT_GE(t0 + 200, at[0][0]) TH_LOG("round 1 %llu ms after the start",
					     (unsigned long long)(at[0][0] - t0));
	for (k = 1; k < 4; k++) {
		uint64_t d = at[0][2 * k] - at[0][0];

		EXPECT_LE(offs[k] - 1, d) TH_LOG("round %u at %llu ms", k + 1, (unsigned long long)d);
		EXPECT_GE(offs[k] + 100, d) TH_LOG("round %u at %llu ms", k + 1, (unsigned long long)d);
	}
	announce_job_stop(j, &st);
	EXPECT_EQ(4, st.rounds);
	EXPECT_EQ(16, st.frames);
	EXPECT_EQ(0, st.errors);
	close(a[1]);
	close(b[1]);
	free(buf);
}

TEST_F(announce, stop_in_the_middle)
{
	struct vmm_announce_params p = { .rounds = 5, .initial_ms = 300, .step_ms = 0 };
	struct announce_nic nic = { .hdr_len = 12, .name = "t0" };
	struct vmm_announce_stats st;
	struct announce_job *j = NULL;
	uint8_t (*buf)[128] = calloc(8, 128);
	ssize_t len[8];
	uint64_t at[8], t0, took;
	int s[2];

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, s));
	nic.fd = s[0];
	memcpy(nic.mac, mac, 6);
	t0 = now_ms();
	ASSERT_EQ(0, announce_job_start(&j, &nic, 1, &p, stderr));
	took = now_ms() - t0;
	/* it does not wait for the rounds: back long before round 2 */
	EXPECT_GT(250, took) TH_LOG("start took %llu ms", (unsigned long long)took);
	EXPECT_EQ(2, collect(s[1], buf, len, at, 8, 150));	/* round 1 only */
	t0 = now_ms();
	announce_job_stop(j, &st);
	took = now_ms() - t0;
	/* at once: long before round 2 would be due */
	EXPECT_GT(200, took) TH_LOG("stop took %llu ms", (unsigned long long)took);
	EXPECT_EQ(1, st.rounds);
	EXPECT_EQ(2, st.frames);
	EXPECT_EQ(0, collect(s[1], buf, len, at, 8, 400));	/* nothing after the stop */
	close(s[0]);
	close(s[1]);
	free(buf);
}

TEST_F(announce, refused_writes_counted_and_logged_once)
{
	struct vmm_announce_params p = { .rounds = 3, .initial_ms = 5, .step_ms = 5 };
	struct announce_nic nic = { .hdr_len = 12, .name = "tapx" };
	struct vmm_announce_stats st;
	struct announce_job *j = NULL;
	char text[512] = "", *at;
	FILE *log = tmpfile();
	int n;

	ASSERT_NE(NULL, log);
	nic.fd = open("/dev/null", O_RDONLY);	/* writes fail: EBADF */
	ASSERT_LE(0, nic.fd);
	memcpy(nic.mac, mac, 6);
	ASSERT_EQ(0, announce_job_start(&j, &nic, 1, &p, log));
	usleep(300000);		/* rounds at 0, 5 and 15 ms */
	announce_job_stop(j, &st);
	EXPECT_EQ(3, st.rounds);
	EXPECT_EQ(0, st.frames);
	EXPECT_EQ(6, st.errors);
	rewind(log);
	EXPECT_LT(0, (int)fread(text, 1, sizeof(text) - 1, log));
	EXPECT_TRUE(km_contains(text, "vmm: announce: tap tapx: Bad file descriptor\n"))
		TH_LOG("%s", text);
	for (n = 0, at = text; (at = strstr(at, "tapx")); at++)
		n++;
	EXPECT_EQ(1, n) TH_LOG("logged %d times: %s", n, text);
	fclose(log);
	close(nic.fd);
}

TEST_F(announce, parameters_out_of_range)
{
	struct announce_nic nic = { .fd = 0, .hdr_len = 12, .name = "t" };
	struct announce_job *j = NULL;
	struct vmm_announce_params p;

	p = (struct vmm_announce_params){ .rounds = 0, .initial_ms = 50 };
	EXPECT_EQ(-EINVAL, announce_job_start(&j, &nic, 1, &p, stderr));
	p = (struct vmm_announce_params){ .rounds = 101, .initial_ms = 50 };
	EXPECT_EQ(-EINVAL, announce_job_start(&j, &nic, 1, &p, stderr));
	p = (struct vmm_announce_params){ .rounds = 5, .initial_ms = 60001 };
	EXPECT_EQ(-EINVAL, announce_job_start(&j, &nic, 1, &p, stderr));
	p = (struct vmm_announce_params){ .rounds = 5, .step_ms = 60001 };
	EXPECT_EQ(-EINVAL, announce_job_start(&j, &nic, 1, &p, stderr));
	nic.fd = -1;
	p = (struct vmm_announce_params){ .rounds = 5 };
	EXPECT_EQ(-EBADF, announce_job_start(&j, &nic, 1, &p, stderr));
	EXPECT_EQ(NULL, j);
}

TEST_HARNESS_MAIN
