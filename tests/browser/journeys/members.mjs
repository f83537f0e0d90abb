// The members the journeys import, as the union's staff would (SPEC import CSV). Run as a
// script, prints the CSV: `node members.mjs > members.csv`.
export const MEMBERS = {
  passkey: { userId: "kp1001", symbol: "10", number: "1000001", birthdate: "1980-12-01", typed: "19801201", email: "kp1001@example.jp" },
  hybrid: { userId: "kp1002", symbol: "10", number: "1000002", birthdate: "1975-04-15", typed: "S50.4.15", email: "kp1002@example.jp" },
  totp: { userId: "kp1003", symbol: "10", number: "1000003", birthdate: "1990-02-28", typed: "1990/02/28", email: "kp1003@example.jp" },
  email: { userId: "kp1004", symbol: "10", number: "1000004", birthdate: "1962-07-07", typed: "昭和37年7月7日", email: "kp1004@example.jp" },
  resume: { userId: "kp1005", symbol: "10", number: "1000005", birthdate: "1985-05-05", typed: "１９８５－０５－０５", email: "kp1005@example.jp" },
  expired: { userId: "kp1006", symbol: "10", number: "1000006", birthdate: "1970-01-20", typed: "19700120", email: "" },
};

/** 記号 + 番号 + birthdate as YYYYMMDD. */
export function initialPassword(m) {
  return m.symbol + m.number + m.birthdate.replaceAll("-", "");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = ["user_id,symbol,number,birthdate,name,name_kana,email"];
  let i = 0;
  for (const m of Object.values(MEMBERS)) {
    i += 1;
    rows.push([m.userId, m.symbol, m.number, m.birthdate, `組合 太郎${i}`, `クミアイ タロウ${i}`, m.email].join(","));
  }
  process.stdout.write(rows.join("\n") + "\n");
}
