package queue

import (
	"context"
	"testing"
)

// TestExpressPathQueuesWhenEverySlotIsBusy: past its slots the express path does not wait; the execution is queued.
func TestExpressPathQueuesWhenEverySlotIsBusy(t *testing.T) {
	t.Parallel()
	x := NewExpress(ExpressOptions{Slots: 1})
	x.slots <- struct{}{} // the one slot, taken by another run
	if _, ok := x.Evaluate(context.Background(), Execution{}); ok {
		t.Fatal("ran with every slot busy")
	}
	<-x.slots
}
