package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets for the service relative to bare (RSS is absolute).
const (
	minThroughputRatio = 0.95
	maxP99Ratio        = 1.2
	maxRSSKB           = 30 * 1024
	maxStartRatio      = 1.2
)

// pairedRatio is the median over rounds of a[i]/b[i]: each round measured
// both servers back to back, so the ratio of one round cancels most of the
// drift of a shared machine that a ratio of medians would keep.
func pairedRatio(a, b []float64) float64 {
	n := min(len(a), len(b))
	ratios := make([]float64, 0, n)
	for i := range n {
		if b[i] != 0 {
			ratios = append(ratios, a[i]/b[i])
		}
	}
	if len(ratios) == 0 {
		return 0
	}
	return median(ratios)
}

type metric struct {
	name   string
	cell   func(result) string
	sample func(result) []float64 // per-round samples: paired ratio
	value  func(result) float64   // one value per server: plain ratio
}

var metrics = []metric{
	{name: "/ping throughput (req/s)", cell: func(r result) string { return fmt.Sprintf("%.0f", median(r.throughputs)) },
		sample: func(r result) []float64 { return r.throughputs }},
	{name: "p99 latency", cell: func(r result) string { return fmtSeconds(median(r.p99s)) },
		sample: func(r result) []float64 { return r.p99s }},
	{name: "server CPU per request", cell: func(r result) string { return fmtSeconds(median(r.cpuPerReq)) },
		sample: func(r result) []float64 { return r.cpuPerReq }},
	{name: "server CPU during load (cores)", cell: func(r result) string { return fmt.Sprintf("%.2f", median(r.cpuShare)) }},
	{name: "load generator CPU (cores)", cell: func(r result) string { return fmt.Sprintf("%.2f", median(r.loadShare)) }},
	{name: "RSS after load (VmRSS)", cell: func(r result) string { return fmtKB(r.mem.rssKB) },
		value: func(r result) float64 { return float64(r.mem.rssKB) }},
	{name: "peak RSS (VmHWM)", cell: func(r result) string { return fmtKB(r.mem.hwmKB) },
		value: func(r result) float64 { return float64(r.mem.hwmKB) }},
	{name: "exec to first 200 (median)", cell: func(r result) string { return fmtSeconds(median(r.startups)) },
		sample: func(r result) []float64 { return r.startups }},
	{name: "failed requests", cell: func(r result) string { return fmt.Sprint(r.failures) }},
}

func (m metric) ratio(a, b result) string {
	switch {
	case m.sample != nil:
		return fmt.Sprintf("%.2f", pairedRatio(m.sample(a), m.sample(b)))
	case m.value != nil:
		return fmt.Sprintf("%.2f", m.value(a)/m.value(b))
	}
	return "-"
}

// report prints the table and the targets and says whether one was missed.
// variants[0] is the service and variants[1] the bare server.
func report(out io.Writer, o options, variants []*variant) bool {
	svc, bare := variants[0].res, variants[1].res
	placement := "not pinned to CPUs"
	if o.pin {
		placement = "load generator pinned to CPU 0, server to CPU 1"
	}
	fmt.Fprintf(out, "\nloopback, %d CPUs, %s; %d rounds x %s per server, order rotated each round; %d keep-alive connections;\n",
		runtime.NumCPU(), runtime.Version(), o.rounds, o.duration, o.conns)
	fmt.Fprintf(out, "load generator GOMAXPROCS=%d, servers GOMAXPROCS=%d, %s.\n", o.loadProcs, o.serverProcs, placement)
	fmt.Fprintf(out, "Figures are medians over rounds (startup: over %d starts); ratios are medians of per-round ratios.\n\n", o.starts)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"metric"}
	for _, v := range variants {
		header = append(header, v.name)
	}
	for _, v := range variants {
		if v.name != "bare" {
			header = append(header, v.name+"/bare")
		}
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, m := range metrics {
		cells := []string{m.name}
		for _, v := range variants {
			cells = append(cells, m.cell(v.res))
		}
		for _, v := range variants {
			if v.name != "bare" {
				cells = append(cells, m.ratio(v.res, bare))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()

	fmt.Fprintln(out, "\ntargets for the service:")
	missed := false
	check := func(name string, ok bool, detail string) {
		verdict := "met"
		if !ok {
			verdict, missed = "MISSED", true
		}
		fmt.Fprintf(out, "  %-30s %-10s %s\n", name, detail, verdict)
	}
	tr := pairedRatio(svc.throughputs, bare.throughputs)
	check(fmt.Sprintf("throughput >= %.2f x bare", minThroughputRatio), tr >= minThroughputRatio, fmt.Sprintf("%.2f", tr))
	pr := pairedRatio(svc.p99s, bare.p99s)
	check(fmt.Sprintf("p99 <= %.1f x bare", maxP99Ratio), pr <= maxP99Ratio, fmt.Sprintf("%.2f", pr))
	check("RSS after load <= 30 MB", svc.mem.rssKB <= maxRSSKB, fmtKB(svc.mem.rssKB))
	sr := pairedRatio(svc.startups, bare.startups)
	check(fmt.Sprintf("start <= %.1f x bare", maxStartRatio), sr <= maxStartRatio, fmt.Sprintf("%.2f", sr))
	check("no failed requests", svc.failures == 0, fmt.Sprint(svc.failures))
	return missed
}

func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d >= time.Millisecond {
		return fmt.Sprintf("%.2f ms", s*1e3)
	}
	return fmt.Sprintf("%.1f µs", s*1e6)
}

func fmtKB(kb int) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
