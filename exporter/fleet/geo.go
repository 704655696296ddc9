package fleet

import "math"

// earthRadius is the mean radius of the Earth in metres (IUGG).
const earthRadius = 6371008.8

// metresPerDegree is a degree of a great circle: no two positions are
// closer than their latitudes' difference times it.
const metresPerDegree = earthRadius * math.Pi / 180

// distance is the great-circle distance in metres between two positions
// in degrees (haversine: exact enough for the metres between messages).
func distance(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	if math.Abs(lat2-lat1) < 0.1 && math.Abs(lon2-lon1) < 0.1 && math.Abs(lat1) < 80 {
		// Within ten kilometres, the plane of the mean latitude is
		// within a millimetre of the great circle, for one cosine.
		x := (lon2 - lon1) * rad * math.Cos((lat1+lat2)/2*rad)
		y := (lat2 - lat1) * rad
		return earthRadius * math.Sqrt(x*x+y*y)
	}
	return haversine(lat1, lon1, lat2, lon2)
}

// haversine is the great-circle distance in metres.
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlon := (lon2 - lon1) * rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadius * math.Asin(math.Sqrt(min(1, a)))
}
