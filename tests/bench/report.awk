# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: the BENCH lines of bench_host.sh (any "a| " prefix of the
# lab is skipped) -> a markdown report on stdout, one JSON object a line in
# the file named by -v jsonl=FILE (each migration, then each median).
#
#   awk -v jsonl=F -v title=T -f report.awk LOG
#
# Per migration:
#   cost per harvested dirty page (ns)  harvest_ns / pages_harvested when the
#        result JSON has them (every harvest of the migration), else the
#        stop-and-copy harvest: downtime_breakdown_ms.harvest /
#        final_round_pages (one harvest, guest paused; n/a when it found
#        no page)
#   send throughput (MiB/s)  bytes_sent / send_ns when the JSON has send_ns,
#        else its "rate": the link rate the convergence model measured over
#        the sending only (bytes/s)
#   source CPU s per migrated GiB  CPU time (utime + stime) of the threads
#        the VM process created for the migration / guest RAM in GiB (and,
#        a second line, / bytes_sent in GiB)
#   total_ms, downtime_ms  as reported
# Each figure: the median over the repeats; the ratio is kernel / user of
# the medians (below 1: the kernel path is cheaper or faster, for
# throughput above 1 is better).  Paths user-tls and kernel-tls (TLS 1.3,
# records in kernel TLS; bench_host.sh BENCH_CHANNELS) add the ratios
# user-tls/user and kernel-tls/kernel: the cost of encryption on each path
# (above 1: TLS costs more or takes longer, for throughput below 1 is
# slower).

function num(v) { return (v == "" || v == "null") ? "" : v + 0 }

function median(key,    n, i, j, t, a, s) {
	n = split(vals[key], s, " ")
	if (vals[key] == "")
		return ""
	for (i = 1; i <= n; i++)
		a[i] = s[i] + 0
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function add(wl, p, m, v) {
	if (v == "")
		return
	vals[wl SUBSEP p SUBSEP m] = vals[wl SUBSEP p SUBSEP m] (vals[wl SUBSEP p SUBSEP m] == "" ? "" : " ") v
}

function kline(wl, m, d,    j, l) {
	l = ""
	for (j = 1; j <= np; j++)
		l = l " " fmt(median(wl SUBSEP ps[j] SUBSEP m), d) " |"
	return l " |"
}

function fmt(v, d) { return v == "" ? "n/a" : sprintf("%." d "f", v) }

function jv(v) { return v == "" ? "null" : v }

{
	sub(/^[ab]\| /, "")
}

/^# bench: host a,/ {
	sub(/^# bench: /, "")
	hostinfo = $0
}

/^# bench: kmigrate run / {
	sub(/^# bench: /, "")
	sub(/ *\(\+ workload options\)/, "")
	runinfo = $0
}

/^BENCH / {
	delete f
	for (i = 2; i <= NF; i++) {
		k = $i
		sub(/=.*/, "", k)
		v = $i
		sub(/^[^=]*=/, "", v)
		f[k] = v
	}
	wl = f["wl"]
	p = f["path"]
	if (!(wl in wlseen)) {
		wlseen[wl] = 1
		wls[++nwl] = wl
	}
	if (!(p in pseen)) {
		pseen[p] = 1
		ps[++np] = p
	}
	cnt[wl SUBSEP p SUBSEP f["status"]]++
	if (f["status"] != "ok") {
		r = f["reason"]
		gsub(/"/, "", r)
		gsub(/_/, " ", r)
		why[wl SUBSEP p] = f["status"] " (" cnt[wl SUBSEP p SUBSEP f["status"]] "x), last: " r
		printf "{\"workload\":\"%s\",\"path\":\"%s\",\"rep\":%d,\"status\":\"%s\",\"reason\":\"%s\"}\n",
			wl, p, f["rep"], f["status"], f["reason"] > jsonl
		next
	}
	hns = num(f["harvest_ns"])
	hp = num(f["pages_harvested"])
	fh = num(f["final_harvest_ms"])
	fp = num(f["final_round_pages"])
	cost = ""
	if (hns != "" && hp != "" && hp > 0) {
		cost = hns / hp
		costsrc["all"] = 1
	} else if (fh != "" && fp != "" && fp > 0 && fp < num(f["guest_mem_bytes"]) / 4096) {
		cost = fh * 1e6 / fp
		costsrc["final"] = 1
	}
	sns = num(f["send_ns"])
	bytes = num(f["bytes_sent"])
	thr = ""
	if (sns != "" && sns > 0) {
		thr = bytes / (sns / 1e9) / 1048576
		thrsrc["send_ns"] = 1
	} else if (num(f["rate"]) != "") {
		thr = num(f["rate"]) / 1048576
		thrsrc["rate"] = 1
	}
	cpu = ""
	gmem = num(f["guest_mem_bytes"])
	if (num(f["src_cpu_ticks"]) != "" && gmem > 0)
		cpu = (f["src_cpu_ticks"] / f["clk_tck"]) / (gmem / 1073741824)
	cpus = ""
	if (num(f["src_cpu_ticks"]) != "" && bytes > 0)
		cpus = (f["src_cpu_ticks"] / f["clk_tck"]) / (bytes / 1073741824)
	add(wl, p, "cpus", cpus)
	add(wl, p, "cost", cost)
	add(wl, p, "thr", thr)
	add(wl, p, "cpu", cpu)
	# the kernel path's own counters (kernel_session): no userspace twin
	kh = num(f["ks_harvest_ms"])
	kp = num(f["ks_pages_harvested"])
	if (kh != "" && kp != "" && kp > 0) {
		add(wl, p, "kcost", kh * 1e6 / kp)
		kseen = 1
	}
	ksd = num(f["ks_send_ms"])
	if (ksd != "" && ksd > 0 && num(f["ks_bytes_sent"]) != "")
		add(wl, p, "kthr", f["ks_bytes_sent"] / (ksd / 1000) / 1048576)
	add(wl, p, "total", num(f["total_ms"]))
	add(wl, p, "down", num(f["downtime_ms"]))
	add(wl, p, "rounds", num(f["rounds"]))
	add(wl, p, "mib", bytes / 1048576)
	raw[wl SUBSEP p] = raw[wl SUBSEP p] sprintf("| %s | %s | %d | %s | %s | %s | %s | %.1f | %s | %s | %s | %.2f | %s |\n",
		wl, p, f["rep"], fmt(num(f["total_ms"]), 0), fmt(num(f["downtime_ms"]), 1), f["rounds"], f["final_round_pages"],
		bytes / 1048576, f["pages_sent"], fmt(cost, 0), fmt(thr, 1), f["src_cpu_ticks"] / f["clk_tck"], fmt(cpu, 2))
	printf "{\"workload\":\"%s\",\"path\":\"%s\",\"rep\":%d,\"status\":\"ok\",\"total_ms\":%s,\"downtime_ms\":%s,\"rounds\":%s,\"pages_sent\":%s,\"bytes_sent\":%s,\"cost_ns_per_harvested_page\":%s,\"send_mib_s\":%s,\"src_cpu_s_per_guest_gib\":%s,\"src_cpu_s_per_sent_gib\":%s,\"src_cpu_ticks\":%s,\"clk_tck\":%s,\"host_busy_ticks\":%s}\n",
		wl, p, f["rep"], jv(num(f["total_ms"])), jv(num(f["downtime_ms"])), jv(num(f["rounds"])),
		jv(num(f["pages_sent"])), jv(bytes), jv(cost), jv(thr), jv(cpu), jv(cpus), jv(num(f["src_cpu_ticks"])),
		jv(num(f["clk_tck"])), jv(num(f["host_busy_ticks"])) > jsonl
}

END {
	nm = split("cost thr cpu cpus total down", ms, " ")
	name["cost"] = "cost per harvested dirty page (ns)"
	name["thr"] = "send throughput (MiB/s)"
	name["cpu"] = "source CPU s per migrated GiB (guest RAM)"
	name["cpus"] = "source CPU s per GiB sent"
	name["total"] = "total migration time (ms)"
	name["down"] = "downtime (ms)"
	dec["cost"] = 0; dec["thr"] = 1; dec["cpu"] = 2; dec["cpus"] = 2; dec["total"] = 0; dec["down"] = 1
	if (title != "")
		print "### " title "\n"
	if (hostinfo != "")
		print "Source host: " hostinfo "\n"
	if (runinfo != "")
		print "Guests: `" runinfo "` + the workload's options.\n"
	for (w = 1; w <= nwl; w++) {
		wl = wls[w]
		print "#### " wl "\n"
		hdr = "| figure (median) |"
		sep = "|---|"
		for (j = 1; j <= np; j++) {
			hdr = hdr " " ps[j] " |"
			sep = sep "---:|"
		}
		hdr = hdr " kernel/user |"
		sep = sep "---:|"
		ntr = 0
		if ("user-tls" in pseen && "user" in pseen) {
			tr[++ntr] = "user"
			hdr = hdr " user-tls/user |"
			sep = sep "---:|"
		}
		if ("kernel-tls" in pseen && "kernel" in pseen) {
			tr[++ntr] = "kernel"
			hdr = hdr " kernel-tls/kernel |"
			sep = sep "---:|"
		}
		print hdr
		print sep
		for (m = 1; m <= nm; m++) {
			line = "| " name[ms[m]] " |"
			for (j = 1; j <= np; j++) {
				med[ps[j]] = median(wl SUBSEP ps[j] SUBSEP ms[m])
				line = line " " fmt(med[ps[j]], dec[ms[m]]) " |"
			}
			ratio = ""
			if (med["kernel"] != "" && med["user"] != "" && med["user"] > 0)
				ratio = med["kernel"] / med["user"]
			line = line " " fmt(ratio, 2) " |"
			tj = ""
			for (t = 1; t <= ntr; t++) {
				tratio = ""
				if (med[tr[t] "-tls"] != "" && med[tr[t]] != "" && med[tr[t]] > 0)
					tratio = med[tr[t] "-tls"] / med[tr[t]]
				line = line " " fmt(tratio, 2) " |"
				tj = tj sprintf(",\"%s_tls\":%s,\"ratio_%s_tls_plain\":%s", tr[t],
					jv(med[tr[t] "-tls"]), tr[t], jv(tratio))
			}
			print line
			if (ms[m] == "cost" && kseen)
				print "| kernel_session: harvest_ms / pages_harvested (ns) |" kline(wl, "kcost", 0)
			if (ms[m] == "thr" && kseen)
				print "| kernel_session: bytes_sent / send_ms (MiB/s) |" kline(wl, "kthr", 2)
			printf "{\"summary\":true,\"workload\":\"%s\",\"figure\":\"%s\",\"user\":%s,\"kernel\":%s,\"ratio_kernel_user\":%s%s}\n",
				wl, ms[m], jv(med["user"]), jv(med["kernel"]), jv(ratio), tj > jsonl
		}
		line = "| migrations ok / run |"
		for (j = 1; j <= np; j++) {
			k = wl SUBSEP ps[j]
			line = line " " cnt[k SUBSEP "ok"] + 0 "/" \
				cnt[k SUBSEP "ok"] + cnt[k SUBSEP "failed"] + cnt[k SUBSEP "unavailable"] " |"
		}
		for (t = 0; t <= ntr; t++)
			line = line " |"
		print line
		for (j = 1; j <= np; j++)
			if ((wl SUBSEP ps[j]) in why)
				print "\n" ps[j] " path: " why[wl SUBSEP ps[j]]
		print ""
	}
	print "Raw figures, every migration:\n"
	print "| workload | path | rep | total ms | downtime ms | rounds | final pages | MiB sent | pages sent | ns/harvested page | send MiB/s | CPU s | CPU s/guest GiB |"
	print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for (w = 1; w <= nwl; w++)
		for (j = 1; j <= np; j++)
			printf "%s", raw[wls[w] SUBSEP ps[j]]
	print ""
	if ("final" in costsrc)
		print "Cost per harvested page: from the stop-and-copy harvest (downtime_breakdown_ms.harvest / final_round_pages; n/a where the final round resent every page or found none): the result JSON has no harvest_ns/pages_harvested totals."
	if ("all" in costsrc)
		print "Cost per harvested page: harvest_ns / pages_harvested over every harvest of the migration."
	if ("rate" in thrsrc)
		print "Send throughput: the result's \"rate\" (the link rate the convergence model measured over the sending only): the result JSON has no send_ns."
	if ("send_ns" in thrsrc)
		print "Send throughput: bytes_sent / send_ns."
	if (kseen)
		print "kernel_session rows: the module's own counters of the kernel path (harvest time summed over its HARVEST calls; send_ms includes waiting for the socket); the userspace path reports no such totals."
	print "CPU: utime + stime of the threads the VM process created for the migration (the source thread; the kernel path's send work runs in its ioctl context and is counted), polled from /proc every 20 ms; softirq and kworker work for the sockets is not counted."
}
