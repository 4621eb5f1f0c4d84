// SPDX-License-Identifier: GPL-2.0
/*
 * The commands that find and drive the VMs of `kmigrate run` through their
 * control sockets: vms (list), pause, resume, stop, vmctl (raw request).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "ctl.h"
#include "exitcode.h"

#define VMS_TIMEOUT_MS		5000
#define VMS_VERIFY_TIMEOUT_MS	120000
#define VMS_STOP_WAIT_MS	15000

static int64_t vms_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *vms_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "-";
}

static bool vms_bool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* The reply's error, or NULL if it says ok. */
static const char *vms_reply_error(struct json_object *reply)
{
	struct json_object *v;

	if (json_object_object_get_ex(reply, "ok", &v) && json_object_get_boolean(v))
		return NULL;
	return json_object_object_get_ex(reply, "error", &v) ? json_object_get_string(v)
							     : "request failed";
}

static int vms_print_json(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	printf("%s\n", s);
	return KM_EXIT_OK;
}

/* ---------------------------------------------------------------- vms -- */

static const struct km_usage vms_usage = {
	.args = "[NAME...]",
	.notes =
	"Lists the VMs that 'kmigrate run' runs on this host (all of them, or\n"
	"those named), from their control sockets in $KMIGRATE_RUN_DIR\n"
	"(default /run/kmigrate/vms).  PROGRESS counts the guest's page writes;\n"
	"MAXPAUSE is the longest pause a vCPU of the guest observed.\n",
};

/* A VM's virtio devices under its line, one a line (none: nothing). */
static void vms_print_devices(struct json_object *reply)
{
	struct json_object *devs, *d;
	size_t i, n;

	if (!json_object_object_get_ex(reply, "devices", &devs) ||
	    !json_object_is_type(devs, json_type_array))
		return;
	n = json_object_array_length(devs);
	for (i = 0; i < n; i++) {
		const char *br;

		d = json_object_array_get_idx(devs, i);
		br = vms_str(d, "bridge");	/* "-": an existing tap */
		if (!strcmp(vms_str(d, "type"), "disk"))
			printf("  disk 00:%02" PRIx64 ".0 %s%s, %" PRId64 " MiB\n",
			       vms_int(d, "pci_slot"), vms_str(d, "path"),
			       vms_bool(d, "read_only") ? " (read-only)" : "",
			       vms_int(d, "bytes") >> 20);
		else
			printf("  net  00:%02" PRIx64 ".0 tap %s%s%s, mac %s\n",
			       vms_int(d, "pci_slot"), vms_str(d, "tap"),
			       strcmp(br, "-") ? " in bridge " : "", strcmp(br, "-") ? br : "",
			       vms_str(d, "mac"));
	}
}

int vms_main(int argc, char **argv)
{
	struct json_object *list = NULL, *reply;
	char **names = NULL, err[512];
	int n, i, c, ret = KM_EXIT_OK;
	bool given;

	while ((c = km_getopt(argc, argv, "", NULL, &vms_usage)) != KM_OPT_END)
		return km_opt_exit(c);
	given = optind < argc;
	if (given) {
		n = argc - optind;
		names = argv + optind;
	} else {
		n = km_ctl_list(&names);
		if (n < 0) {
			km_err("vms: reading %s: %s%s", km_ctl_run_dir(), strerror(-n),
			       n == -EACCES || n == -EPERM ? " (run this as root or as the VMs' owner)"
			       : "");
			return km_ctl_exit_code(n);
		}
	}
	if (km_opts.json)
		list = json_object_new_array();
	else
		printf("%-16s %7s %-8s %8s %5s %-6s %-8s %12s %10s\n", "NAME", "PID", "STATE",
		       "MEMORY", "VCPUS", "DIRTY", "WORKLOAD", "PROGRESS", "MAXPAUSE");
	for (i = 0; i < n; i++) {
		int r = km_ctl_cmd(names[i], "info", VMS_TIMEOUT_MS, &reply, err, sizeof(err));

		if (r) {
			/*
			 * A socket without a listener, or one closed without a
			 * reply, is a VM whose process is just ending (stopped,
			 * or migrated away): not an error when listing them all.
			 */
			if (given || (r != -ENOENT && r != -ECONNRESET)) {
				km_err("vms: %s", err);
				if (ret != KM_EXIT_PERM)
					ret = km_ctl_exit_code(r);
			}
			continue;
		}
		if (vms_reply_error(reply)) {
			km_err("vms: %s: %s", names[i], vms_reply_error(reply));
			ret = KM_EXIT_FAIL;
			json_object_put(reply);
			continue;
		}
		if (list) {
			json_object_object_del(reply, "ok");
			json_object_array_add(list, reply);
			continue;
		}
		printf("%-16s %7" PRId64 " %-8s %7" PRId64 "M %5" PRId64 " %-6s %-8s %12" PRId64
		       " %8" PRId64 "us\n", vms_str(reply, "name"), vms_int(reply, "pid"),
		       vms_str(reply, "state"), vms_int(reply, "memory") >> 20,
		       vms_int(reply, "vcpus"), vms_str(reply, "dirty_mode"),
		       vms_str(reply, "workload"), vms_int(reply, "progress"),
		       vms_int(reply, "max_pause_us"));
		vms_print_devices(reply);
		json_object_put(reply);
	}
	if (!given) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	if (list) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "vms", list);
		vms_print_json(o);
		json_object_put(o);
	}
	return ret;
}

/* ------------------------------------------------- pause, resume, stop -- */

/* One NAME argument, no options. */
static int vms_one_name(int argc, char **argv, const struct km_usage *usage,
			const char **name)
{
	int c;

	while ((c = km_getopt(argc, argv, "", NULL, usage)) != KM_OPT_END)
		return c;
	if (optind >= argc)
		return km_usage_error("missing the VM's NAME"), KM_OPT_EXIT_USAGE;
	*name = argv[optind++];
	if (!km_ctl_name_valid(*name))
		return km_usage_error("invalid NAME '%s'", *name), KM_OPT_EXIT_USAGE;
	return km_no_args(argc, argv) ? KM_OPT_EXIT_USAGE : KM_OPT_END;
}

/* Sends {"cmd":CMD} to the VM; prints the reply with -j. */
static int vms_simple(const char *cmd, const char *name, int timeout_ms,
		      struct json_object **out)
{
	struct json_object *reply;
	char err[512];
	const char *e;
	int r = km_ctl_cmd(name, cmd, timeout_ms, &reply, err, sizeof(err));

	if (r) {
		km_err("%s: %s", cmd, err);
		return km_ctl_exit_code(r);
	}
	e = vms_reply_error(reply);
	if (e) {
		km_err("%s: %s: %s", cmd, name, e);
		json_object_put(reply);
		return KM_EXIT_FAIL;
	}
	if (km_opts.json)
		vms_print_json(reply);
	if (out)
		*out = reply;
	else
		json_object_put(reply);
	return KM_EXIT_OK;
}

static const struct km_usage pause_usage = {
	.args = "NAME",
	.notes = "Stops the vCPUs of a VM that 'kmigrate run' runs.\n",
};

int pause_main(int argc, char **argv)
{
	const char *name;
	int r = vms_one_name(argc, argv, &pause_usage, &name);

	if (r != KM_OPT_END)
		return km_opt_exit(r);
	r = vms_simple("pause", name, VMS_TIMEOUT_MS, NULL);
	if (!r && !km_opts.json)
		printf("%s: paused\n", name);
	return r;
}

static const struct km_usage resume_usage = {
	.args = "NAME",
	.notes = "Runs the vCPUs of a paused VM again.\n",
};

int resume_main(int argc, char **argv)
{
	const char *name;
	int r = vms_one_name(argc, argv, &resume_usage, &name);

	if (r != KM_OPT_END)
		return km_opt_exit(r);
	r = vms_simple("resume", name, VMS_TIMEOUT_MS, NULL);
	if (!r && !km_opts.json)
		printf("%s: running\n", name);
	return r;
}

static const struct km_usage stop_usage = {
	.args = "NAME",
	.notes = "Shuts a VM of 'kmigrate run' down and waits until its process ended.\n",
};

int stop_main(int argc, char **argv)
{
	struct json_object *reply = NULL;
	const char *name;
	struct timespec ts = { .tv_nsec = 20 * 1000000 };
	pid_t pid;
	int r = vms_one_name(argc, argv, &stop_usage, &name), waited;

	if (r != KM_OPT_END)
		return km_opt_exit(r);
	r = vms_simple("stop", name, VMS_TIMEOUT_MS, &reply);
	if (r)
		return r;
	pid = (pid_t)vms_int(reply, "pid");
	json_object_put(reply);
	for (waited = 0; pid > 0 && waited < VMS_STOP_WAIT_MS; waited += 20) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			break;
		nanosleep(&ts, NULL);
	}
	if (pid > 0 && waited >= VMS_STOP_WAIT_MS) {
		km_err("stop: %s: pid %d still runs after %d s", name, (int)pid,
		       VMS_STOP_WAIT_MS / 1000);
		return KM_EXIT_FAIL;
	}
	if (!km_opts.json)
		printf("%s: stopped\n", name);
	return KM_EXIT_OK;
}

/* -------------------------------------------------------------- vmctl -- */

static const struct km_usage vmctl_usage = {
	.args = "NAME REQUEST",
	.notes =
	"Sends one request to a VM's control socket and prints the JSON reply.\n"
	"REQUEST is a JSON object such as '{\"cmd\":\"verify\",\"replay\":false}' or\n"
	"just a command: info, pause, resume, stop, verify.  Exits 1 if the reply\n"
	"is an error, or if verify found bad pages.\n",
};

int vmctl_main(int argc, char **argv)
{
	struct json_object *req, *reply, *v;
	const char *name, *arg;
	char err[512];
	int c, ret;

	while ((c = km_getopt(argc, argv, "", NULL, &vmctl_usage)) != KM_OPT_END)
		return km_opt_exit(c);
	if (argc - optind != 2)
		return km_usage_error("expected NAME and REQUEST");
	name = argv[optind];
	arg = argv[optind + 1];
	if (!km_ctl_name_valid(name))
		return km_usage_error("invalid NAME '%s'", name);
	if (arg[0] == '{') {
		req = json_tokener_parse(arg);
		if (!req || !json_object_is_type(req, json_type_object)) {
			json_object_put(req);
			return km_usage_error("REQUEST is not a JSON object");
		}
	} else {
		req = json_object_new_object();
		if (!req)
			return KM_EXIT_FAIL;
		json_object_object_add(req, "cmd", json_object_new_string(arg));
	}
	ret = km_ctl_call(name, req, VMS_VERIFY_TIMEOUT_MS, &reply, err, sizeof(err));
	json_object_put(req);
	if (ret) {
		km_err("vmctl: %s", err);
		return km_ctl_exit_code(ret);
	}
	vms_print_json(reply);
	ret = vms_reply_error(reply) ? KM_EXIT_FAIL : KM_EXIT_OK;
	if (json_object_object_get_ex(reply, "passed", &v) && !json_object_get_boolean(v))
		ret = KM_EXIT_FAIL;
	json_object_put(reply);
	return ret;
}
