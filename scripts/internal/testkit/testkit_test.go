package testkit

import "testing"

func TestFullTierSkipsOnlyInTheDefaultTier(t *testing.T) {
	for tier, skipped := range map[string]bool{"default": true, "full": false, "": false} {
		t.Run("tier="+tier, func(t *testing.T) {
			t.Setenv(FullTierEnv, tier)
			var ran bool
			t.Run("machinery", func(t *testing.T) {
				FullTier(t)
				ran = true
			})
			if ran == skipped {
				t.Errorf("%s=%q: FullTier let the test run: %v, want %v", FullTierEnv, tier, ran, !skipped)
			}
		})
	}
}
