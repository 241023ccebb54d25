"""The claims service: intake with attachments, assessment by the city plugin, per member-year
accumulators, review, payouts and clawbacks, hospital settlements and statistics."""
