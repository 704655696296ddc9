package mapping_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

func sampleBody(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/samples.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// realisticBatch is n messages of 45 parameters each, shaped like a CAN
// tracker's: position, voltages, CAN engine data, BLE sensors, states,
// strings, and a few parameters no default rule maps.
func realisticBatch(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"ident":"35209308%07d","timestamp":%d.%06d,"server.timestamp":%d.503211,`+
			`"channel.id":1221600,"protocol.id":1,"device.id":%d,"device.name":"truck-%d","device.type.id":744,`+
			`"peer":"203.0.113.17:40122","codec.id":142,"event.enum":%d,"event.seqnum":%d,`+
			`"engine.ignition.status":true,"movement.status":%t,"position.latitude":%.6f,"position.longitude":%.6f,`+
			`"position.altitude":41,"position.speed":%d,"position.direction":%d,"position.satellites":14,`+
			`"position.hdop":0.7,"position.valid":true,"gsm.signal.level":80,"gsm.mcc":262,"gsm.mnc":"01",`+
			`"gsm.operator.code":"26201","external.powersource.voltage":27.%03d,"battery.voltage":4.081,"ain.1":0.421,`+
			`"ain.2":12.5,"din":1,"dout":0,"vehicle.mileage":184233.5,"can.engine.rpm":%d,`+
			`"can.engine.coolant.temperature":86,"can.fuel.level":71,"can.vehicle.mileage":412873.2,`+
			`"can.engine.load.level":38,"ble.sensor.temperature.1":-18.2,"ble.sensor.temperature.2":4.5,`+
			`"ble.sensor.humidity.1":63,"custom.param.10800":1,"alarm.event":false,"gnss.status":true,`+
			`"vehicle.vin":"WDB9634031L%06d"}`,
			i%1000, 1717171200+i, i%1000000, 1717171200+i, 6000000+i%1000, i%1000, i%16, i,
			i%2 == 0, 52.52+float64(i%100)/1000, 13.40+float64(i%100)/1000, i%120, i%360, i%1000,
			800+i%2000, i)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// BenchmarkMapBatch is the mapping hot path on one core: decode a batch of
// 500 realistic messages, apply the default rules, encode line protocol.
// ns/msg is the figure to compare (benchstat); 250,000 messages/s is
// 4,000 ns/msg.
func BenchmarkMapBatch(b *testing.B) {
	m := defaultMapping(b)
	body := realisticBatch(500)
	d := message.NewDecoder()
	var r mapping.Result
	var lp []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var params, samples int
	for b.Loop() {
		lp = lp[:0]
		params, samples = 0, 0
		err := d.Decode(body, func(msg *message.Message) error {
			params += len(msg.Params)
			if err := m.Apply(msg, received, &r); err != nil {
				return err
			}
			for i := range r.Points {
				lp = influx.AppendPoint(lp, &r.Points[i])
			}
			samples += len(r.Samples)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/msg")
	b.ReportMetric(float64(params)/500, "params/msg")
	b.ReportMetric(float64(samples)/500, "gauges/msg")
}

// BenchmarkDecode is the JSON decoding alone, for the same batch.
func BenchmarkDecode(b *testing.B) {
	body := realisticBatch(500)
	d := message.NewDecoder()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(body, func(*message.Message) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/msg")
}

// BenchmarkMapWorkload is BenchmarkMapBatch on flespi-bench's workload,
// whose values are random (digit counts vary as in real streams).
func BenchmarkMapWorkload(b *testing.B) {
	m := defaultMapping(b)
	w := workload.Generate(500, 1000, 500, 1)
	body := w.Batches[0]
	d := message.NewDecoder()
	var r mapping.Result
	var lp []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		lp = lp[:0]
		err := d.Decode(body, func(msg *message.Message) error {
			if err := m.Apply(msg, received, &r); err != nil {
				return err
			}
			for i := range r.Points {
				lp = influx.AppendPoint(lp, &r.Points[i])
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/msg")
	b.ReportMetric(float64(cpu.Stop().Nanoseconds())/float64(b.N*500), "cpu-ns/msg")
}

// BenchmarkLineProtocol encodes the points of a batch of flespi-bench's
// workload, mapped beforehand: the InfluxDB output's share of MapWorkload.
func BenchmarkLineProtocol(b *testing.B) {
	m := defaultMapping(b)
	body := workload.Generate(500, 1000, 500, 1).Batches[0]
	var points []mapping.Point
	var r mapping.Result
	err := message.NewDecoder().Decode(body, func(msg *message.Message) error {
		if err := m.Apply(msg, received, &r); err != nil {
			return err
		}
		for _, p := range r.Points { // values point into body, which stays
			p.Tags, p.Fields = slices.Clone(p.Tags), slices.Clone(p.Fields)
			points = append(points, p)
		}
		return nil
	})
	if err != nil || len(points) != 500 {
		b.Fatalf("%d points, %v", len(points), err)
	}
	var lp []byte
	b.ReportAllocs()
	for b.Loop() {
		lp = lp[:0]
		for i := range points {
			lp = influx.AppendPoint(lp, &points[i])
		}
	}
	b.SetBytes(int64(len(lp)))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/msg")
}

// BenchmarkDecodeWorkload is BenchmarkDecode on flespi-bench's workload.
func BenchmarkDecodeWorkload(b *testing.B) {
	body := workload.Generate(500, 1000, 500, 1).Batches[0]
	d := message.NewDecoder()
	b.SetBytes(int64(len(body)))
	cpu := startCPU()
	for b.Loop() {
		if err := d.Decode(body, func(*message.Message) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/msg")
	b.ReportMetric(float64(cpu.Stop().Nanoseconds())/float64(b.N*500), "cpu-ns/msg")
}

// cpuClock measures the process' CPU time (user and system, every thread):
// on a shared virtual machine it leaves out the time the host gave to
// others, which wall time includes.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{processCPU()} }

func (c cpuClock) Stop() time.Duration { return processCPU() - c.start }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
