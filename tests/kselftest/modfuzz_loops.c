// SPDX-License-Identifier: GPL-2.0
/*
 * modfuzz: what the load/unload loops (modfuzz.c) use: one load, open,
 * attach, bind, round, harvest, send, close and unload; slab caches,
 * unreclaimable memory and kmemleak.
 */

#include "modfuzz.h"

int read_slabs(struct slab *s, int max)
{
	FILE *f = fopen("/proc/slabinfo", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f) && n < max) {
		long num;

		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%63s %ld %ld %ld %ld", s[n].name, &s[n].active, &num,
			   &s[n].objsize, &s[n].perslab) == 5)
			n++;
	}
	fclose(f);
	return n;
}

/* Unreclaimable slab and vmalloc memory (kB), as /proc/meminfo says. */
long unreclaimable_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	long v, sum = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "SUnreclaim: %ld", &v) == 1 ||
		    sscanf(line, "VmallocUsed: %ld", &v) == 1)
			sum += v;
	}
	fclose(f);
	return sum;
}

bool kmemleak_cmd(const char *cmd)
{
	int fd = open(KMEMLEAK, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, cmd, strlen(cmd)) == (ssize_t)strlen(cmd);
	close(fd);
	return ok;
}

int one_loop(int vmfd, int tx, struct kmt_nl *nl, const uint64_t *gfns,
	     char *why, size_t wl)
{
	struct kmigrate_attach a = { .vm_fd = vmfd };
	struct kmigrate_bind b = { .sock_fd = tx };
	struct kmigrate_round r = { 0 };
	static uint64_t buf[256];
	struct kmt_info info;
	struct kmt_session ss[8];
	struct kmt_dump d = { .s = ss, .max = 8 };
	int km, err;

#define STEP(what, expr) do {						\
	err = (expr);							\
	if (err) {							\
		snprintf(why, wl, "%s: %s", what, strerror(-err));	\
		return err;						\
	}								\
} while (0)

	STEP("insmod", mod_load());
	km = kmt_open(O_RDWR);
	STEP("open", km < 0 ? km : 0);
	err = mod_unload();
	if (err != -EAGAIN) {
		snprintf(why, wl, "rmmod with a session open: %s",
			 err ? strerror(-err) : "it worked");
		return -EIO;
	}
	STEP("ATTACH_VM", xioctl(km, KMIGRATE_ATTACH_VM, &a));
	STEP("BIND_SOCKET", xioctl(km, KMIGRATE_BIND_SOCKET, &b));
	STEP("ROUND", xioctl(km, KMIGRATE_ROUND, &r));
	STEP("HARVEST", harvest(km, buf, 256, NULL, NULL));
	STEP("SEND_PAGES", send_gfns(km, gfns, 64, 0, NULL));
	nl->family = genl_ctrl_resolve(nl->sk, KMIGRATE_GENL_NAME);
	STEP("genl family", nl->family < 0 ? -ENOENT : 0);
	STEP("GET_INFO", kmt_get_info(nl, &info, NULL));
	STEP("GET_SESSION", kmt_dump_sessions(nl, &d, NULL));
	if (d.n != 1) {
		snprintf(why, wl, "dump: %d sessions", d.n);
		return -EIO;
	}
	STEP("close", close(km) ? -errno : 0);
	STEP("rmmod", mod_unload());
	return 0;
#undef STEP
}
