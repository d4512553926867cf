import Foundation
import ParleyCore

// Deterministic synthetic clients for tests, demo data and the name-matching benchmark.

public struct SyntheticClient: Sendable, Hashable, Codable {
    public let name: String
    public let email: String
    public let phone: String

    public init(name: String, email: String, phone: String) {
        self.name = name
        self.email = email
        self.phone = phone
    }
}

public enum SyntheticClients {
    /// `count` clients, identical for the same seed. Formal first names that have nicknames, a
    /// skewed surname distribution (some surnames are very common), middle names and initials,
    /// diacritics, apostrophes and hyphens, and deliberately confusable people: relatives sharing a
    /// surname with nickname-related first names, and namesakes with the very same name.
    /// Emails are unique; phones are unique E.164 numbers.
    public static func clients(count: Int, seed: UInt64) -> [SyntheticClient] {
        guard count > 0 else { return [] }
        var rng = SplitMix64(seed: seed)
        let surnameSampler = ZipfSampler(count: surnames.count, exponent: 0.5)
        var names: [String] = []
        names.reserveCapacity(count)
        while names.count < count {
            let roll = rng.below(100)
            if roll < 2, let previous = names.last {
                names.append(previous)  // a namesake: the very same name, another person
                continue
            }
            if roll < 5, let previous = names.last, let relative = relativeName(of: previous, rng: &rng) {
                names.append(relative)  // same surname, nickname-related first name
                continue
            }
            names.append(randomName(rng: &rng, surnameSampler: surnameSampler))
        }
        return names.enumerated().map { index, name in
            SyntheticClient(name: name, email: email(for: name, index: index), phone: phone(index: index, seed: seed))
        }
    }

    static func randomName(rng: inout SplitMix64, surnameSampler: ZipfSampler) -> String {
        let first = rng.chance(0.06) ? rng.pick(accentedFirstNames) : rng.pick(formalFirstNames)
        var surname = surnames[surnameSampler.sample(&rng)]
        if rng.chance(0.03) {
            surname += "-" + surnames[surnameSampler.sample(&rng)]
        }
        let middleRoll = rng.below(100)
        if middleRoll < 25 {
            return "\(first) \(rng.pick(formalFirstNames)) \(surname)"
        } else if middleRoll < 35 {
            let initial = rng.pick(Array("ABCDEFGHJKLMNPRSTW"))
            return "\(first) \(initial). \(surname)"
        }
        return "\(first) \(surname)"
    }

    /// A relative: same surname, a first name related by nickname to the given one when possible.
    static func relativeName(of name: String, rng: inout SplitMix64) -> String? {
        let parts = name.split(separator: " ").map(String.init)
        guard parts.count >= 2, let first = parts.first, let surname = parts.last else { return nil }
        let related = NicknameTable.standard.variants(of: first).sorted()
        guard !related.isEmpty else { return nil }
        let other = rng.pick(related)
        return "\(other.prefix(1).uppercased())\(other.dropFirst()) \(surname)"
    }

    static func email(for name: String, index: Int) -> String {
        let local = NameNormalizer.tokens(name).filter { $0.unicodeScalars.allSatisfy(\.isASCII) }.joined(separator: ".")
        return "\(local.isEmpty ? "client" : local).\(index)@example.com"
    }

    static func phone(index: Int, seed: UInt64) -> String {
        // Unique per index: a fixed area prefix and the index spread over 7 digits.
        let area = 200 + Int(seed % 700)
        let line = (index &* 7_919) % 10_000_000
        return "+1" + String(area) + String(repeating: "0", count: 7 - String(line).count) + String(line)
    }

    // MARK: Data

    /// Formal first names, each with nicknames in the standard table.
    public static let formalFirstNames: [String] = [
        "Robert", "William", "James", "John", "Richard", "Thomas", "Charles", "Christopher", "Daniel",
        "Matthew", "Anthony", "Joseph", "Michael", "David", "Steven", "Edward", "Benjamin", "Nicholas",
        "Jonathan", "Alexander", "Samuel", "Andrew", "Joshua", "Timothy", "Kenneth", "Ronald", "Donald",
        "Gregory", "Patrick", "Peter", "Raymond", "Frederick", "Lawrence", "Leonard", "Gerald", "Douglas",
        "Harold", "Henry", "Walter", "Theodore", "Albert", "Arthur", "Eugene", "Francis", "Vincent",
        "Philip", "Zachary", "Nathaniel", "Jeffrey", "Louis", "Bernard", "Herbert", "Alfred", "Edmund",
        "Gilbert", "Clifford", "Elizabeth", "Margaret", "Catherine", "Katherine", "Jennifer", "Patricia",
        "Barbara", "Susan", "Deborah", "Dorothy", "Rebecca", "Jessica", "Christina", "Victoria", "Abigail",
        "Alexandra", "Samantha", "Kimberly", "Jacqueline", "Josephine", "Theresa", "Virginia", "Frances",
        "Florence", "Eleanor", "Helen", "Judith", "Cynthia", "Pamela", "Sandra", "Angela", "Melissa",
        "Stephanie", "Rachel", "Amanda", "Natalie", "Caroline", "Gabrielle", "Veronica", "Valerie",
        "Allison", "Penelope", "Harriet", "Geraldine", "Roberta", "Mary", "Ann", "Jane", "Sarah", "Emily",
        "Olivia", "Sophia", "Isabella", "Madeline", "Evelyn", "Lillian", "Louise", "Martha", "Julia",
        "Teresa", "Cassandra", "Beatrice", "Agnes", "Leonora", "Eliza", "Esther", "Irene",
    ]

    /// First names with diacritics (no nicknames needed).
    public static let accentedFirstNames: [String] = [
        "José", "Zoë", "Renée", "André", "Chloé", "François", "Björn", "Søren", "Inés", "Raúl", "Agnès",
        "Noémie", "Łukasz", "Zoltán", "Iñaki", "Jürgen", "Máire", "Siobhán", "Seán", "Jiří",
        "Ramón", "Joaquín", "Héctor", "Mónica", "Thérèse", "Hélène", "Günther", "Åsa", "Ólafur", "İlker",
    ]

    /// Surnames of varied origin, most common first (sampled with a skew towards the head).
    public static let surnames: [String] = [
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
        "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
        "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez",
        "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen",
        "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
        "Carter", "Roberts", "Patel", "Kim", "Wang", "Li", "Zhang", "Chen", "Liu", "Singh", "Kumar",
        "Sharma", "O'Brien", "O'Connor", "O'Neill", "O'Sullivan", "O'Reilly", "D'Angelo", "D'Souza",
        "McCarthy", "MacDonald", "McKenzie", "Murphy", "Kelly", "Byrne", "Ryan", "Walsh", "Doyle",
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
        "Hoffmann", "Schröder", "Köhler", "Weiß", "Krüger", "Jäger", "García", "Martínez", "Rodríguez",
        "Fernández", "López", "González", "Pérez", "Sánchez", "Gómez", "Díaz", "Jiménez", "Muñoz",
        "Núñez", "Peña", "Ibáñez", "Castaño", "Gonçalves", "Conceição", "Simões", "Magalhães", "Araújo",
        "Lefèvre", "Dubois", "Béranger", "Girard", "Moreau", "Lefebvre", "Mercier", "Fournier", "Lambert",
        "Bonnet", "François", "Rousseau", "Vincent", "Müller-Lüdenscheidt", "Sørensen", "Jørgensen",
        "Ångström", "Åberg", "Lindqvist", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson",
        "Olsen", "Hansen", "Kowalski", "Wójcik", "Nowak", "Wiśniewski", "Łukasiewicz", "Zieliński",
        "Dvořák", "Novák", "Svoboda", "Černý", "Procházka", "Szabó", "Tóth", "Kovács", "Horváth",
        "Nagy", "Yılmaz", "Öztürk", "Çelik", "Şahin", "Aydın", "Trần", "Lê", "Phạm", "Huỳnh", "Võ",
        "Đặng", "Bùi", "Tanaka", "Suzuki", "Takahashi", "Watanabe", "Yamamoto", "Nakamura", "Kobayashi",
        "Park", "Choi", "Jung", "Kang", "Yoon", "Gupta", "Reddy", "Iyer", "Nair", "Menon", "Chatterjee",
        "Banerjee", "Mukherjee", "Desai", "Joshi", "Mehta", "Kapoor", "Malhotra", "Haddad", "Al-Sayed",
        "Al-Masri", "Khoury", "Nassar", "Hassan", "Hussein", "Rahman", "Chowdhury", "Siddiqui", "Qureshi",
        "Okafor", "Mensah", "Adeyemi", "Okonkwo", "Abubakar", "Mwangi", "Otieno", "Kamau", "Diallo",
        "Traoré", "Ndiaye", "Boateng", "Asante", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi",
        "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Costa",
        "Giordano", "Mancini", "Rizzo", "Lombardi", "Moretti", "de Vries", "van Dijk", "Bakker", "Janssen",
        "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
        "van der Berg", "Ivanov", "Smirnov", "Kuznetsov", "Popov", "Volkov", "Sokolov", "Lebedev",
        "Kozlov", "Novikov", "Morozov", "Petrov", "Pavlov", "Papadopoulos", "Georgiou", "Nikolaidis",
        "Cohen", "Levi", "Mizrahi", "Friedman", "Katz", "Goldberg", "Shapiro", "Rosenberg", "Kaplan",
        "Cook", "Morgan", "Bell", "Cooper", "Richardson", "Cox", "Howard", "Ward", "Peterson", "Gray",
        "James", "Watson", "Brooks", "Sanders", "Price", "Bennett", "Wood", "Barnes", "Ross",
        "Henderson", "Coleman", "Jenkins", "Perry", "Powell", "Long", "Patterson", "Hughes", "Washington",
        "Butler", "Simmons", "Foster", "Bryant", "Alexander", "Russell", "Griffin", "Hayes", "Myers",
        "Ford", "Hamilton", "Graham", "Sullivan", "Wallace", "Woods", "Cole", "West", "Jordan", "Owens",
        "Reynolds", "Fisher", "Ellis", "Harrison", "Gibson", "McDonald", "Cruz", "Marshall", "Ortiz",
        "Gomez", "Murray", "Freeman", "Wells", "Webb", "Simpson", "Stevens", "Tucker", "Porter", "Hunter",
        "Hicks", "Crawford", "Henry", "Boyd", "Mason", "Morales", "Kennedy", "Warren", "Dixon", "Ramos",
        "Reyes", "Burns", "Gordon", "Shaw", "Holmes", "Rice", "Robertson", "Hunt", "Black", "Daniels",
        "Palmer", "Mills", "Nichols", "Grant", "Knight", "Ferguson", "Rose", "Stone", "Hawkins", "Dunn",
        "Perkins", "Hudson", "Spencer", "Gardner", "Stephens", "Payne", "Pierce", "Berry", "Matthews",
        "Arnold", "Wagner-Smith", "Willis", "Ray", "Watkins", "Olson", "Carroll", "Duncan", "Snyder",
        "Hart", "Cunningham", "Bradley", "Lane", "Andrews", "Ruiz", "Harper", "Fox", "Riley", "Armstrong",
        "Carpenter", "Weaver", "Greene", "Lawrence", "Elliott", "Chavez", "Sims", "Austin", "Peters-Hale",
        "Kelley", "Franklin", "Lawson", "Fields", "Gutierrez", "Schmidt-Weber", "Carr", "Vasquez",
        "Castillo", "Wheeler", "Chapman", "Oliver", "Montgomery", "Richards", "Williamson", "Johnston",
        "Banks", "Meyer-Landrut", "Bishop", "McCoy", "Howell", "Alvarez", "Morrison", "Hansen-Berg",
        "Fernandez", "Garza", "Harvey", "Little", "Burton", "Stanley", "George", "Jacobs", "Reid", "Fuller",
        "Lynch", "Dean", "Gilbert", "Garrett", "Romero", "Welch", "Larson", "Frazier", "Burke", "Hanson",
        "Day", "Mendoza", "Moreno", "Bowman", "Medina", "Fowler", "Brewer", "Hoffman", "Carlson", "Silva",
        "Pearson", "Holland", "Douglas", "Fleming", "Jensen", "Vargas", "Byrd", "Davidson", "Hopkins",
        "May", "Terry", "Herrera", "Wade", "Soto", "Walters", "Curtis", "Neal", "Caldwell", "Lowe",
        "Jennings", "Barnett", "Graves", "Jimenez", "Horton", "Shelton", "Barrett", "O'Donnell", "O'Hara",
        "O'Malley", "D'Amico", "D'Arcy", "Fitzgerald", "Fitzpatrick", "Gallagher", "Quinn", "Brennan",
        "Nolan", "Flanagan", "Abernathy", "Ashworth", "Blackwood", "Cavendish", "Drummond", "Ellingham",
        "Fairweather", "Gainsborough", "Holloway", "Ingram", "Kingsley", "Lockhart", "Merriweather",
        "Northcott", "Pemberton", "Radcliffe", "Sinclair", "Thorne", "Underwood", "Whitaker", "Yardley",
    ]
}

/// Samples indexes 0..<count with probability proportional to 1 / (rank + 1)^exponent.
struct ZipfSampler: Sendable {
    let cumulative: [Double]

    init(count: Int, exponent: Double) {
        var total = 0.0
        var cumulative: [Double] = []
        cumulative.reserveCapacity(count)
        for rank in 0..<count {
            total += 1 / pow(Double(rank + 1), exponent)
            cumulative.append(total)
        }
        self.cumulative = cumulative.map { $0 / total }
    }

    func sample(_ rng: inout SplitMix64) -> Int {
        let u = Double(rng.next() >> 11) / Double(1 << 53)
        var lo = 0
        var hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
