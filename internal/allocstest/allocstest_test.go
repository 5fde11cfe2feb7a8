package allocstest

import "testing"

var sink []byte

func TestFewest(t *testing.T) {
	tests := []struct {
		name   string
		allocs int
	}{
		{"none", 0},
		{"one", 1},
		{"three", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := func() {
				for range tt.allocs {
					sink = make([]byte, 64)
				}
			}
			if got := Fewest(3, 100, f); got != float64(tt.allocs) {
				t.Errorf("Fewest = %v, want %d", got, tt.allocs)
			}
		})
	}
}

// An allocation burst from elsewhere during one measurement is not
// counted; f's own allocation still is.
func TestFewestIgnoresABurstDuringOneTry(t *testing.T) {
	// On the second call: AllocsPerRun's first is a warm-up, not counted.
	calls := 0
	burst := func() {
		if calls++; calls == 2 {
			for range 10_000 {
				sink = make([]byte, 64)
			}
		}
	}
	tests := []struct {
		name  string
		own   int
		tries int
		want  float64
	}{
		{"counted when measured once", 1, 1, 1 + 10_000/100},
		{"left out over three tries", 1, 3, 1},
		{"none of its own", 0, 3, 0},
	}
	for _, tt := range tests {
		calls = 0
		t.Run(tt.name, func(t *testing.T) {
			f := func() {
				burst() // stands for another goroutine's flush
				for range tt.own {
					sink = make([]byte, 64)
				}
			}
			if got := Fewest(tt.tries, 100, f); got != tt.want {
				t.Errorf("Fewest = %v, want %v", got, tt.want)
			}
		})
	}
}
