// Package workload generates realistic flespi message batches for tests and
// benchmarks: many devices, ~45 parameters per message, a fixed seed, and
// the values each message carries so that what was stored can be checked.
package workload

import (
	"bytes"
	"fmt"
	"math/rand/v2"
)

// Message is what a generated message carries that tests check.
type Message struct {
	Ident   string
	Micros  int64   // device time, Unix microseconds
	Speed   int     // position.speed, km/h
	Voltage float64 // external.powersource.voltage, three decimals
	RPM     int     // can.engine.rpm
}

// Workload is a generated stream: batches of JSON arrays, and the messages
// in the order they were sent.
type Workload struct {
	Batches  [][]byte
	Messages []Message

	n, devices, batchSize int
	seed                  uint64
	start                 int64 // device time of the first report, Unix µs
}

// start is the device time of Generate's first report (2024-05-31).
const start = 1717171200_000000

// every is the time between a device's reports, µs.
const every = 10_000_000

// Generate makes n messages from devices devices, in batches of batchSize,
// from a fixed seed: the same arguments give the same bytes. Each message
// has about 45 parameters: positions, voltages, CAN engine data, BLE
// sensors, booleans and strings, gsm.mcc as a number or a string (as
// different device types send it), and a few that no default rule maps.
func Generate(n, devices, batchSize int, seed uint64) *Workload {
	return generate(n, devices, batchSize, seed, start)
}

// Next is the workload that follows w: the same devices reporting on,
// later in device time, with other values. A benchmark that replays more
// than w holds goes on with it rather than sending w again, whose
// messages every device has passed (they would be late, and cost what
// late messages cost).
func (w *Workload) Next() *Workload {
	span := int64((w.n+w.devices-1)/w.devices) * every
	return generate(w.n, w.devices, w.batchSize, w.seed+1, w.start+span)
}

func generate(n, devices, batchSize int, seed uint64, from int64) *Workload {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &Workload{n: n, devices: devices, batchSize: batchSize, seed: seed, start: from}
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		if i%batchSize == 0 {
			if buf.Len() > 0 {
				w.Batches = append(w.Batches, closeArray(&buf))
			}
			buf.WriteByte('[')
		} else {
			buf.WriteByte(',')
		}
		dev := i % devices
		m := Message{
			Ident:   fmt.Sprintf("8635209%08d", dev),
			Micros:  from + int64(i/devices)*every + int64(dev)*1000 + int64(rng.IntN(1000)),
			Speed:   rng.IntN(130),
			Voltage: float64(11000+rng.IntN(18000)) / 1000,
			RPM:     600 + rng.IntN(2400),
		}
		w.Messages = append(w.Messages, m)
		writeMessage(&buf, m, dev, i, rng)
	}
	if buf.Len() > 0 {
		w.Batches = append(w.Batches, closeArray(&buf))
	}
	return w
}

func closeArray(buf *bytes.Buffer) []byte {
	buf.WriteByte(']')
	b := bytes.Clone(buf.Bytes())
	buf.Reset()
	return b
}

func writeMessage(b *bytes.Buffer, m Message, dev, i int, rng *rand.Rand) {
	mcc := `262`
	if dev%3 == 0 {
		mcc = `"262"` // some device types send it as a string
	}
	fmt.Fprintf(b, `{"ident":%q,"timestamp":%d.%06d,"server.timestamp":%d.%06d,`,
		m.Ident, m.Micros/1e6, m.Micros%1e6, m.Micros/1e6+1, rng.IntN(1e6))
	fmt.Fprintf(b, `"channel.id":1221600,"protocol.id":1,"device.id":%d,"device.name":"truck-%d","device.type.id":744,`, 6000000+dev, dev)
	fmt.Fprintf(b, `"peer":"203.0.113.%d:40122","codec.id":142,"event.enum":%d,"event.seqnum":%d,`, dev%250, rng.IntN(16), i)
	fmt.Fprintf(b, `"engine.ignition.status":%t,"movement.status":%t,`, m.RPM > 700, m.Speed > 0)
	fmt.Fprintf(b, `"position.latitude":%.6f,"position.longitude":%.6f,"position.altitude":%d,`,
		52+rng.Float64(), 13+rng.Float64(), rng.IntN(400))
	fmt.Fprintf(b, `"position.speed":%d,"position.direction":%d,"position.satellites":%d,"position.hdop":%.1f,"position.valid":true,`,
		m.Speed, rng.IntN(360), 4+rng.IntN(12), 0.5+rng.Float64())
	fmt.Fprintf(b, `"gsm.signal.level":%d,"gsm.mcc":%s,"gsm.mnc":1,"gsm.operator.code":"26201",`, rng.IntN(101), mcc)
	fmt.Fprintf(b, `"external.powersource.voltage":%.3f,"battery.voltage":%.3f,"ain.1":%.3f,"ain.2":%.3f,"din":%d,"dout":0,`,
		m.Voltage, 3.6+rng.Float64()/2, rng.Float64()*12, rng.Float64()*12, rng.IntN(16))
	fmt.Fprintf(b, `"vehicle.mileage":%.1f,"can.engine.rpm":%d,"can.engine.coolant.temperature":%d,"can.fuel.level":%d,`,
		100000+rng.Float64()*1e5, m.RPM, 70+rng.IntN(30), rng.IntN(101))
	fmt.Fprintf(b, `"can.vehicle.mileage":%.1f,"can.engine.load.level":%d,"ble.sensor.temperature.1":%.1f,"ble.sensor.temperature.2":%.1f,`,
		200000+rng.Float64()*1e5, rng.IntN(101), -20+rng.Float64()*10, 2+rng.Float64()*6)
	fmt.Fprintf(b, `"ble.sensor.humidity.1":%d,"custom.param.10800":%d,"alarm.event":%t,"gnss.status":true,"vehicle.vin":"WDB9634031L%06d"}`,
		rng.IntN(101), rng.IntN(2), rng.IntN(50) == 0, dev)
}
