package message

import "time"

// UploadTime is when flespi received a message: its server.timestamp (or
// rest.timestamp, for one posted through flespi's REST API) in Unix
// seconds, given as seconds (0: the message has neither), as Unix
// nanoseconds; arrival, the exporter's, where the message has neither or
// where it lies ahead of the arrival (a wrong clock or payload). This is
// the upload clock: a device's silence is measured on it.
func UploadTime(seconds float64, arrival time.Time) int64 {
	if seconds <= 0 {
		return arrival.UnixNano()
	}
	at := int64(seconds * 1e9)
	if at > arrival.Add(time.Minute).UnixNano() {
		return arrival.UnixNano()
	}
	return at
}

// ServerTimeOf is when flespi received a message, from its
// server.timestamp, else its rest.timestamp parameter (nil: not sent,
// as an Index finds them), in Unix seconds; 0 without either.
func ServerTimeOf(server, rest *Param) float64 {
	if server != nil {
		if v, ok := server.Float(); ok {
			return v
		}
	}
	if rest != nil {
		if v, ok := rest.Float(); ok {
			return v
		}
	}
	return 0
}
