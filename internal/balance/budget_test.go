package balance

import "testing"

func TestBudgetRatio(t *testing.T) {
	b := newBudget(0.2, -1, 0)
	retries := 0
	for range 100 {
		b.deposit()
		if b.withdraw(0) {
			retries++
		}
	}
	if retries != 20 {
		t.Errorf("100 failing requests got %d retries; want 20 (ratio 0.2)", retries)
	}
}

func TestBudgetMinPerSecond(t *testing.T) {
	b := newBudget(-1, 10, 0)
	// A new budget starts with 10s of the minimum.
	n := 0
	for b.withdraw(0) {
		n++
	}
	if n != 100 {
		t.Fatalf("new budget allowed %d retries; want 100", n)
	}
	// Then 10 per second, with no traffic at all.
	n = 0
	for b.withdraw(sec) {
		n++
	}
	if n != 10 {
		t.Errorf("after 1s the budget allowed %d retries; want 10", n)
	}
}

func TestBudgetCapacity(t *testing.T) {
	b := newBudget(0.5, 1, 0) // capacity max(10, 10×1) = 10
	for range 1000 {
		b.deposit()
	}
	n := 0
	for b.withdraw(3600 * sec) {
		n++
	}
	if n != 10 {
		t.Errorf("after a quiet hour and 1000 requests the budget allowed %d retries; want the capacity 10", n)
	}
}

func TestBudgetNone(t *testing.T) {
	b := newBudget(-1, -1, 0)
	b.deposit()
	if b.withdraw(100 * sec) {
		t.Errorf("a budget with neither ratio nor minimum allowed a retry")
	}
}
