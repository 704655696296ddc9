package fleet

// Distance and Haversine are for the tests: the distance used, and the
// great circle it stands for.
var (
	Distance  = distance
	Haversine = haversine
)
