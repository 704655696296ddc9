package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	p := Policy{First: time.Second, Max: time.Minute}
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for attempt, w := range want {
		if got := p.Wait(attempt); got != w {
			t.Errorf("Wait(%d) = %v, want %v", attempt, got, w)
		}
	}
	if got := (Policy{First: 250 * time.Millisecond}).Wait(5); got != 250*time.Millisecond {
		t.Errorf("without Max the wait stays First: %v", got)
	}
}

func TestDo(t *testing.T) {
	errDown := errors.New("down")
	errBad := errors.New("bad")
	p := Policy{First: time.Millisecond, Tries: 3}
	calls, failures := 0, 0
	err := p.Do(context.Background(), func() error { calls++; return errDown }, nil,
		func(int, error, time.Duration) { failures++ })
	if !errors.Is(err, errDown) || calls != 3 || failures != 2 {
		t.Errorf("3 tries: err %v, %d calls, %d told", err, calls, failures)
	}
	calls = 0
	err = p.Do(context.Background(), func() error { calls++; return errBad }, func(e error) bool { return e != errBad }, nil)
	if !errors.Is(err, errBad) || calls != 1 {
		t.Errorf("an error not worth retrying: err %v after %d calls", err, calls)
	}
	calls = 0
	err = p.Do(context.Background(), func() error {
		if calls++; calls < 2 {
			return errDown
		}
		return nil
	}, nil, nil)
	if err != nil || calls != 2 {
		t.Errorf("success on the second try: err %v, %d calls", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	forever := Policy{First: time.Hour}
	err = forever.Do(ctx, func() error { calls++; cancel(); return errDown }, nil, nil)
	if !errors.Is(err, errDown) || calls != 1 {
		t.Errorf("a cancelled context stops the tries: err %v, %d calls", err, calls)
	}
}
