// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate run: --disk and --net (run_devs.h).  What can be checked
 * before the VM exists is a usage error here (exit 2): a file that is not
 * there, a bridge or tap that does not exist, a malformed MAC.  What only
 * opening them shows (a disk locked by another VM, no O_DIRECT, no
 * CAP_NET_ADMIN) fails in run_devs_add().
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "exitcode.h"
#include "run_devs.h"
#include "virtio_net.h"

int run_devs_parse_disk(struct run_devs *d, const char *arg)
{
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t)(comma - arg) : strlen(arg);
	char path[256];

	if (d->nr_disks == RUN_MAX_DISKS)
		return km_usage_error("too many --disk options (at most %d)", RUN_MAX_DISKS), -1;
	if (!len)
		return km_usage_error("invalid --disk '%s': expected PATH[,ro]", arg), -1;
	if (comma && strcmp(comma, ",ro"))
		return km_usage_error("invalid --disk '%s': the only option after PATH is ',ro'",
				      arg), -1;
	if (len >= sizeof(path))
		return km_usage_error("invalid --disk: path longer than %zu bytes",
				      sizeof(path) - 1), -1;
	memcpy(path, arg, len);
	path[len] = 0;
	if (access(path, comma ? R_OK : R_OK | W_OK))
		return km_usage_error("invalid --disk '%s': %s", path, strerror(errno)), -1;
	snprintf(d->disk[d->nr_disks].path, sizeof(d->disk[0].path), "%s", path);
	d->disk[d->nr_disks].ro = comma != NULL;
	d->nr_disks++;
	return 0;
}

/* @val (@len bytes) names an existing interface; a bridge if @bridge. */
static int run_devs_ifname(const char *arg, const char *val, size_t len, bool bridge,
			   char out[16])
{
	char path[64];

	if (!len || len >= IFNAMSIZ)
		return km_usage_error("invalid --net '%s': an interface name has 1-%d characters",
				      arg, IFNAMSIZ - 1), -1;
	memcpy(out, val, len);
	out[len] = 0;
	if (!if_nametoindex(out))
		return km_usage_error("invalid --net '%s': %s '%s' does not exist", arg,
				      bridge ? "bridge" : "tap", out), -1;
	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", out);
	if (bridge && access(path, F_OK))
		return km_usage_error("invalid --net '%s': '%s' is not a bridge", arg, out), -1;
	return 0;
}

int run_devs_parse_net(struct run_devs *d, const char *arg)
{
	const char *p = arg, *end;
	bool have = false;
	unsigned int i = d->nr_nics;
	char mac[18];

	if (i == RUN_MAX_NICS)
		return km_usage_error("too many --net options (at most %d)", RUN_MAX_NICS), -1;
	memset(&d->nic[i], 0, sizeof(d->nic[i]));
	while (*p) {
		size_t len;

		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		if (!strncmp(p, "bridge=", 7) || !strncmp(p, "tap=", 4)) {
			bool br = p[0] == 'b';
			size_t k = br ? 7 : 4;

			if (have)
				return km_usage_error("invalid --net '%s': give one bridge= or tap=",
						      arg), -1;
			if (run_devs_ifname(arg, p + k, len - k, br,
					    br ? d->nic[i].bridge : d->nic[i].tap))
				return -1;
			have = true;
		} else if (!strncmp(p, "mac=", 4)) {
			if (len != 4 + 17)
				return km_usage_error("invalid --net '%s': mac= takes "
						      "xx:xx:xx:xx:xx:xx", arg), -1;
			memcpy(mac, p + 4, 17);
			mac[17] = 0;
			if (vnet_parse_mac(mac, d->nic[i].mac))
				return km_usage_error("invalid --net '%s': '%s' is not a unicast "
						      "MAC address", arg, mac), -1;
			d->nic[i].has_mac = true;
		} else {
			return km_usage_error("invalid --net '%s': expected bridge=BR or tap=TAP, "
					      "then ,mac=MAC", arg), -1;
		}
		p += len;
		if (*p == ',' && !*++p)
			return km_usage_error("invalid --net '%s': trailing ','", arg), -1;
	}
	if (!have)
		return km_usage_error("invalid --net '%s': expected bridge=BR or tap=TAP", arg), -1;
	d->nr_nics++;
	return 0;
}

int run_devs_add(const struct run_devs *d, struct vmm_vm *vm, const char *name)
{
	char err[512];
	unsigned int i;
	int r;

	for (i = 0; i < d->nr_disks; i++) {
		r = vmm_disk_add(vm, d->disk[i].path, d->disk[i].ro, err, sizeof(err));
		if (r) {
			km_err("run: %s: %s", name, err);
			return r == -EBUSY ? KM_EXIT_BUSY : KM_EXIT_FAIL;
		}
	}
	for (i = 0; i < d->nr_nics; i++) {
		struct vmm_net_cfg c = {
			.vm_name = name, .index = i,
			.bridge = d->nic[i].bridge[0] ? d->nic[i].bridge : NULL,
			.tap = d->nic[i].tap[0] ? d->nic[i].tap : NULL,
			.has_mac = d->nic[i].has_mac,
		};

		memcpy(c.mac, d->nic[i].mac, 6);
		r = vmm_net_add(vm, &c, err, sizeof(err));
		if (r) {
			km_err("run: %s: %s", name, err);
			return r == -EPERM ? KM_EXIT_PERM : KM_EXIT_FAIL;
		}
	}
	return 0;
}
