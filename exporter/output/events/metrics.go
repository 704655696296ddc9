package events

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
)

// collector serves each device's event counters and motion, with the
// device gauges' labels (ident and [mapping].tags): what the journal
// holds, so that a counter never goes back over a restart.
type collector struct {
	o         *Output
	namespace string
}

// Describe describes nothing: the labels are the devices' tags, known as
// they come (an unchecked collector).
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.o.mu.Lock()
	defer c.o.mu.Unlock()
	// One set of label names for all: a device without a tag has it
	// empty, which Prometheus reads as absent.
	var names []string
	for _, d := range c.o.devices {
		for _, t := range d.tags {
			if !slices.Contains(names, t.Key) {
				names = append(names, t.Key)
			}
		}
	}
	slices.Sort(names)
	descs := make([]*prometheus.Desc, len(fleet.Counters))
	for i, k := range fleet.Counters {
		descs[i] = prometheus.NewDesc(c.namespace+"_device_"+k.Suffix, k.Help, names, nil)
	}
	motion := prometheus.NewDesc(c.namespace+"_device_motion", "The vehicle now, as its fleet events see it: 0 parked, 1 moving, 2 idling (ignition on, not moving).", names, nil)
	values := make([]string, len(names))
	for _, d := range c.o.devices {
		for i, n := range names {
			values[i] = ""
			for _, t := range d.tags {
				if t.Key == n {
					values[i] = t.Value
				}
			}
		}
		for i, k := range fleet.Counters {
			ch <- prometheus.MustNewConstMetric(descs[i], prometheus.CounterValue, k.Value(&d.pub), values...)
		}
		ch <- prometheus.MustNewConstMetric(motion, prometheus.GaugeValue, float64(d.pubMotion), values...)
	}
}
